package admin

import (
	"context"
	"slices"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/workspace"
)

// timeJSON is a time that encodes as RFC 3339 in UTC.
type timeJSON struct{ time.Time }

func (t timeJSON) MarshalJSON() ([]byte, error) { return t.Time.UTC().MarshalJSON() }

// Dashboard is the workspace at a glance.
type Dashboard struct {
	Total          int                   `json:"total"`
	ByState        map[account.State]int `json:"by_state"`
	ByChannel      map[string]int        `json:"by_channel"`
	NeedsAttention []AccountView         `json:"needs_attention"`
	ExpiringSoon   []AccountView         `json:"expiring_soon"`
	Runs           []RunView             `json:"runs"`
}

// RunView is the last run of a scheduled function.
type RunView struct {
	Function   string    `json:"function"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Complete   bool      `json:"complete"`
}

// maxListed bounds the dashboard's lists; the account list with filters has the rest.
const maxListed = 25

// Dashboard counts accounts by state and channel and lists what needs attention.
func (s *Service) Dashboard(ctx context.Context, p auth.Principal) (Dashboard, error) {
	if err := allow(p, "see the dashboard", admins...); err != nil {
		return Dashboard{}, err
	}
	ws, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
	if err != nil {
		return Dashboard{}, err
	}
	accounts, err := s.all(ctx, p.WorkspaceID, account.Filter{})
	if err != nil {
		return Dashboard{}, err
	}
	now := s.Clock.Now()
	d := Dashboard{ByState: map[account.State]int{}, ByChannel: map[string]int{}, NeedsAttention: []AccountView{},
		ExpiringSoon: []AccountView{}, Runs: []RunView{}}
	for _, st := range account.States {
		if st != account.StateDeleted {
			d.ByState[st] = 0
		}
	}
	var attention, expiring []account.Account
	for _, a := range accounts {
		d.Total++
		d.ByState[a.State]++
		d.ByChannel[a.Channel]++
		if a.State.Troubled() || a.State == account.StatePending {
			attention = append(attention, a)
		}
		if a.Expiring(now, ws.Settings.WarningWindow) {
			expiring = append(expiring, a)
		}
	}
	// Longest in trouble first; soonest expiry first.
	slices.SortStableFunc(attention, func(a, b account.Account) int { return a.TroubleSince.Compare(b.TroubleSince) })
	slices.SortStableFunc(expiring, func(a, b account.Account) int { return a.HardExpiry().Compare(b.HardExpiry()) })
	for _, a := range attention[:min(len(attention), maxListed)] {
		d.NeedsAttention = append(d.NeedsAttention, s.view(a, now, ws.Settings.WarningWindow))
	}
	for _, a := range expiring[:min(len(expiring), maxListed)] {
		d.ExpiringSoon = append(d.ExpiringSoon, s.view(a, now, ws.Settings.WarningWindow))
	}
	runs, err := s.Store.LastRuns(ctx)
	if err != nil {
		return Dashboard{}, err
	}
	// Times only: a run's counts span every workspace, which no tenant may read.
	d.Runs = []RunView{}
	for _, r := range runs {
		d.Runs = append(d.Runs, RunView{Function: r.Function, StartedAt: r.StartedAt.UTC(), FinishedAt: r.FinishedAt.UTC(),
			Complete: r.Complete})
	}
	return d, nil
}

// WorkspaceView is the workspace and its settings.
type WorkspaceView struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Settings  SettingsView `json:"settings"`
	UpdatedAt time.Time    `json:"updated_at"`
	Version   int64        `json:"version"`
}

// SettingsView is the reminder and expiry settings, in days where people think in days.
type SettingsView struct {
	TimeZone           string `json:"time_zone"`
	WarningWindowDays  int    `json:"warning_window_days"`
	ReminderPolicy     string `json:"reminder_policy"`
	ExponentialCapDays int    `json:"exponential_cap_days"`
	CopyAdminsFromStep int    `json:"copy_admins_from_step"`
	PreExpiryWeekly    bool   `json:"pre_expiry_weekly"`
	PostExpiryWeekly   bool   `json:"post_expiry_weekly"`
	SeriesFirstGapDays int    `json:"series_first_gap_days"`
	SeriesIntervalDays int    `json:"series_interval_days"`
	SeriesRepeats      int    `json:"series_repeats"`
}

const day = 24 * time.Hour

func workspaceView(w workspace.Workspace) WorkspaceView {
	st := w.Settings.WithDefaults()
	return WorkspaceView{ID: w.ID, Name: w.Name, UpdatedAt: w.UpdatedAt.UTC(), Version: w.Version, Settings: SettingsView{
		TimeZone: st.TimeZone, WarningWindowDays: int(st.WarningWindow / day), ReminderPolicy: st.ReminderPolicy,
		ExponentialCapDays: int(st.ExponentialCap / day), CopyAdminsFromStep: st.CopyAdminsFromStep,
		PreExpiryWeekly: st.PreExpiryWeekly, PostExpiryWeekly: st.PostExpiryWeekly,
		SeriesFirstGapDays: int(st.SeriesFirstGap / day), SeriesIntervalDays: int(st.SeriesInterval / day), SeriesRepeats: st.SeriesRepeats}}
}
