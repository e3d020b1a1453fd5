package admin

import (
	"context"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/relink"
)

// GetWorkspace returns the workspace and its settings; anyone in it may read them.
func (s *Service) GetWorkspace(ctx context.Context, p auth.Principal) (WorkspaceView, error) {
	w, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
	if err != nil {
		return WorkspaceView{}, err
	}
	return workspaceView(w), nil
}

// WorkspacePatch changes the workspace's name and settings; absent fields stay.
type WorkspacePatch struct {
	Name     *string        `json:"name"`
	Settings *SettingsPatch `json:"settings"`
}

// SettingsPatch changes settings; absent fields stay.
type SettingsPatch struct {
	TimeZone           *string `json:"time_zone"`
	WarningWindowDays  *int    `json:"warning_window_days"`
	ReminderPolicy     *string `json:"reminder_policy"`
	ExponentialCapDays *int    `json:"exponential_cap_days"`
	CopyAdminsFromStep *int    `json:"copy_admins_from_step"`
	PreExpiryWeekly    *bool   `json:"pre_expiry_weekly"`
	PostExpiryWeekly   *bool   `json:"post_expiry_weekly"`
	SeriesFirstGapDays *int    `json:"series_first_gap_days"`
	SeriesIntervalDays *int    `json:"series_interval_days"`
	SeriesRepeats      *int    `json:"series_repeats"`
}

// UpdateWorkspace changes the name and settings (admins only).
func (s *Service) UpdateWorkspace(ctx context.Context, p auth.Principal, patch WorkspacePatch) (WorkspaceView, error) {
	if err := allow(p, "change workspace settings", admins...); err != nil {
		return WorkspaceView{}, err
	}
	for attempt := 0; ; attempt++ {
		w, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
		if err != nil {
			return WorkspaceView{}, err
		}
		w.Settings = w.Settings.WithDefaults()
		if patch.Name != nil {
			w.Name = strings.TrimSpace(*patch.Name)
		}
		if sp := patch.Settings; sp != nil {
			st := &w.Settings
			if sp.TimeZone != nil {
				st.TimeZone = strings.TrimSpace(*sp.TimeZone)
			}
			if sp.WarningWindowDays != nil {
				st.WarningWindow = inDays(*sp.WarningWindowDays)
			}
			if sp.ReminderPolicy != nil {
				st.ReminderPolicy = *sp.ReminderPolicy
			}
			if sp.ExponentialCapDays != nil {
				st.ExponentialCap = inDays(*sp.ExponentialCapDays)
			}
			if sp.CopyAdminsFromStep != nil {
				st.CopyAdminsFromStep = *sp.CopyAdminsFromStep
			}
			if sp.PreExpiryWeekly != nil {
				st.PreExpiryWeekly = *sp.PreExpiryWeekly
			}
			if sp.PostExpiryWeekly != nil {
				st.PostExpiryWeekly = *sp.PostExpiryWeekly
			}
			if sp.SeriesFirstGapDays != nil {
				st.SeriesFirstGap = inDays(*sp.SeriesFirstGapDays)
			}
			if sp.SeriesIntervalDays != nil {
				st.SeriesInterval = inDays(*sp.SeriesIntervalDays)
			}
			if sp.SeriesRepeats != nil {
				st.SeriesRepeats = *sp.SeriesRepeats
			}
		}
		if err := w.Validate(); err != nil {
			return WorkspaceView{}, withField(err)
		}
		w.UpdatedAt = s.Clock.Now()
		w, err = s.Store.UpdateWorkspace(ctx, w)
		if err == nil {
			return workspaceView(w), nil
		}
		if relink.ErrorCode(err) != relink.ECONFLICT || attempt == 2 {
			return WorkspaceView{}, err
		}
	}
}

// withField puts a settings field under "settings." as the request spells it.
func withField(err error) error {
	f := relink.ErrorField(err)
	if f == "" || f == "name" {
		return err
	}
	return relink.Invalid("settings."+f, "%s", relink.ErrorMessage(err))
}

// inDays converts a day count from a request, clamped so that no count can overflow
// a Duration into a value that looks valid: out-of-range counts stay out of range, and
// Settings.Validate refuses them naming the field.
func inDays(n int) time.Duration {
	return time.Duration(min(max(n, -1), 100_000)) * day
}
