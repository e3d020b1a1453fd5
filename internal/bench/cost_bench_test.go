package bench

// Issue #8 item 5: the monthly AWS bill for 10k, 100k and 1M accounts.
//
// Two halves, both in this run:
//
//  1. Unit costs, measured. Sandbox accounts are connected through the real consent
//     flow into DynamoDB (dynalite, metered: every request asks for its consumed
//     capacity, see capacity), and the expiry check and the reminders run over them
//     on a manual clock. Each phase's read and write request units, emails and wall
//     time are divided by the work its summary reports: an empty run of each
//     function, a renewal, a probe, a disconnect, an account looked at by the
//     reminders, a reminder sent.
//  2. Work per account per month, derived from the code's own schedule: for every
//     channel, a month of hourly runs over one account, deciding as the expiry check
//     does (account.Schedule for when, probe.NeedsRefresh for renew or probe) with the
//     channel's documented token lifetimes. The reminders look at an account whose
//     token has a hard end at least daily (digest's lookAgain) and again whenever that
//     end moves. What no code decides, how often accounts break and how many
//     reminders they get before their owner reconnects, is an assumption, printed.
//
// Prices are us-east-1 list prices (see prices): DynamoDB on-demand, Lambda arm64,
// SES outbound email, Secrets Manager, EventBridge Scheduler.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/mailbox"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

// prices are us-east-1 list prices, as published on 2026-11-27 (DynamoDB's on-demand
// prices since the November 2024 reduction); no free tier is subtracted.
var prices = struct {
	Date                         string
	PerMillionWRU, PerMillionRRU float64 // DynamoDB on-demand
	PerGBMonth                   float64 // DynamoDB standard storage
	PerGBSecondARM               float64 // Lambda arm64 duration
	PerMillionInvocations        float64 // Lambda requests
	PerThousandEmails            float64 // SES outbound
	PerSecretMonth               float64 // Secrets Manager
	PerTenThousandSecretCalls    float64
	PerMillionSchedules          float64 // EventBridge Scheduler invocations
}{
	Date: "2026-11-27", PerMillionWRU: 0.625, PerMillionRRU: 0.125, PerGBMonth: 0.25,
	PerGBSecondARM: 0.0000133334, PerMillionInvocations: 0.20, PerThousandEmails: 0.10,
	PerSecretMonth: 0.40, PerTenThousandSecretCalls: 0.05, PerMillionSchedules: 1.00,
}

// The deployment (template.yaml): schedules, memory sizes, secrets.
const (
	month             = 30 * 24 * time.Hour
	expiryRunsMonth   = 30 * 24     // rate(1 hour)
	reminderRunsMonth = 30 * 24 * 4 // rate(15 minutes)
	expiryMemoryGB    = 0.5         // ExpiryCheckFunction MemorySize 512
	remindersMemoryGB = 0.25        // RemindersFunction MemorySize 256
	secretCount       = 3           // app keys, token keys, channel credentials
	// Secrets read per cold start: the expiry check reads all three, the reminders
	// the app keys. Every scheduled run is counted as a cold start (the worst case).
	expirySecretReads, reminderSecretReads = 3, 1
)

// Assumptions no code decides, stated with the table.
const (
	lostPerMonth      = 0.05    // share of accounts that break in a month (revoked, password changed, role lost)
	stepsBeforeFix    = 3.5     // reminder steps a lost account gets before its owner reconnects (half after the first, half after all six)
	recipientsPerStep = 2       // the owner and the primary admin
	bytesPerAccount   = 6 << 10 // stored per account besides renewal claims: the account, its tokens, 30 days of audit events, reminder records
	// itemOverhead is what DynamoDB adds to each item's stored size (indexing), plus
	// what marking a claim done adds to it (state, time, message ID).
	itemOverhead = 100 + 40
)

var costT = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// unitCost is what one unit of work cost in a measured phase.
type unitCost struct {
	RRU, WRU, MS float64 // WRU includes the index writes
	Emails       float64
}

type costCreds struct{}

func (costCreds) Credentials(context.Context, string) (channel.Credentials, error) {
	return channel.Credentials{ClientID: "relink-bench", ClientSecret: vault.Secret(sandbox.ClientSecret)}, nil
}

// renewalFixedEnd names the unit of a renewal that leaves the token's hard end.
const renewalFixedEnd = "renewal, hard end unchanged"

// costWorkspaces × three sandbox pages (two logins) are measured.
const costWorkspaces = 20

func BenchmarkCost(b *testing.B) {
	endpoint, ok := tryStandin(b, standin.Dynalite)
	if !ok {
		b.Skip("dynalite is not installed")
	}
	for range b.N {
		units, claimBytes := measureUnits(b, endpoint)
		model(b, units, claimBytes)
	}
}

// measureUnits runs the phases and returns the cost of one unit of each, and the size
// of a renewal claim record.
func measureUnits(b *testing.B, endpoint string) (map[string]unitCost, int) {
	ctx := context.Background()
	tbl := newTable(b, endpoint, true)
	tbl.db.meter = true
	clk := clock.NewManual(costT)
	st, err := dynamo.New(tbl.db, tbl.name, store.Config{Clock: clk, CursorKey: cursorKey})
	if err != nil {
		b.Fatal(err)
	}
	sb := sandbox.New(clk, rand.Reader)
	srv := httptest.NewServer(sb)
	b.Cleanup(srv.Close)
	reg, err := channel.NewRegistry(channel.Sandbox(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	v := newVault(b)
	ids := ident.NewULID(clk.Now)
	con := &connect.Service{Store: st, Registry: reg, Credentials: costCreds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: srv.Client()}},
		Vault:       v, Clock: clk, IDs: ids, Random: rand.Reader, BaseURL: "https://relink.example", HTTP: srv.Client()}
	prober := &probe.Prober{HTTP: srv.Client(), Credentials: costCreds{}, Clock: clk, Renewals: &probe.StoreRenewals{Sends: st, Clock: clk, IDs: ids}}
	newCheck := func(reg *channel.Registry) *checkup.Service {
		return &checkup.Service{Store: st, Registry: reg, Vault: v, Clock: clk, IDs: ids, Logger: quietLogger(), RatePerChannel: 1000, Prober: prober}
	}
	check := newCheck(reg)
	box := mailbox.New(clk)
	remind := &digest.Service{Store: st, Registry: reg,
		Links:       &portal.Links{Store: st, Clock: clk, Random: rand.Reader, BaseURL: "https://relink.example"},
		Unsubscribe: portal.Unsubscriber{Key: bytes.Repeat([]byte("u"), 32), BaseURL: "https://relink.example"},
		Mail:        box, Clock: clk, IDs: ids, Logger: quietLogger()}

	var accounts []account.Account
	for w := range costWorkspaces {
		ws := fmt.Sprintf("cw%02d", w)
		if _, err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, Name: "Brands " + ws, Settings: workspace.DefaultSettings(),
			CreatedAt: costT, UpdatedAt: costT}); err != nil {
			b.Fatal(err)
		}
		for _, u := range []workspace.User{{ID: "u-admin", Role: workspace.RolePrimaryAdmin}, {ID: "u-owner", Role: workspace.RoleOwner}} {
			u.WorkspaceID, u.Name, u.Email, u.CreatedAt, u.UpdatedAt = ws, u.ID, u.ID+"@"+ws+".example", costT, costT
			if _, err := st.CreateUser(ctx, u); err != nil {
				b.Fatal(err)
			}
		}
		for _, profile := range []string{"sandbox-olivia", "sandbox-omar"} {
			accounts = append(accounts, consent(b, con, srv.URL, ws, profile)...)
		}
	}
	n := len(accounts)
	units := map[string]unitCost{}
	// phase runs f at the clock's time and divides what it cost by the work it reports.
	phase := func(name string, at time.Time, f func() (work int, what string)) {
		clk.Set(at)
		c0, m0, t0 := tbl.db.cap.snapshot(), len(box.All()), time.Now()
		work, what := f()
		took, c := time.Since(t0), tbl.db.cap.snapshot().sub(c0)
		if work <= 0 {
			b.Fatalf("%s: no work done (%s)", name, what)
		}
		u := unitCost{RRU: c.RRU / float64(work), WRU: (c.WRU + c.IndexWRU) / float64(work),
			MS: ms(took) / float64(work), Emails: float64(len(box.All())-m0) / float64(work)}
		units[name] = u
		record(figure{Section: "cost", Name: "unit: " + name, Value: u.RRU + u.WRU, Unit: "RU",
			Note: fmt.Sprintf("per %s: %.2f RRU, %.2f WRU (%.2f of them index writes), %.2f emails, %.1f ms wall on dynalite",
				what, u.RRU, u.WRU, c.IndexWRU/float64(work), u.Emails, u.MS)})
	}
	// runCheckOn runs check, which must do only want (or, with want "", nothing).
	runCheckOn := func(check *checkup.Service, want string) func() (int, string) {
		return func() (int, string) {
			sum, err := check.Run(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if want == "" {
				if len(sum.Counts) != 0 {
					b.Fatalf("empty expiry check did %v", sum.Counts)
				}
				return 1, "run"
			}
			if sum.Counts[want] != sumCounts(sum.Counts) {
				b.Fatalf("expiry check: %v, want only %s", sum.Counts, want)
			}
			return sum.Counts[want], "account " + want
		}
	}
	runCheck := func(want string) func() (int, string) { return runCheckOn(check, want) }
	runRemind := func(count string, what string) func() (int, string) {
		return func() (int, string) {
			sum, err := remind.Run(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if sum.Counts[digest.CountFailed] != 0 || sum.Counts[digest.CountConflicts] != 0 {
				b.Fatalf("reminders: %v", sum.Counts)
			}
			if count == "" {
				if sum.Counts[digest.CountAccounts] != 0 {
					b.Fatalf("empty reminders run looked at %v", sum.Counts)
				}
				return 1, "run"
			}
			return sum.Counts[count], what
		}
	}

	// Just connected: the reminders look at each account once (its token has a hard
	// end), nothing is due anywhere a minute later.
	phase("reminders look (nothing to send)", costT.Add(time.Minute), runRemind(digest.CountAccounts, "account looked at"))
	phase("reminders run, nothing due", costT.Add(2*time.Minute), runRemind("", ""))
	phase("expiry check run, nothing due", costT.Add(2*time.Minute), runCheck(""))
	// The hour-long sandbox tokens are renewed at half-life, by the next hourly run.
	phase("renewal", costT.Add(time.Hour), runCheck(checkup.OutcomeRefreshed))
	// The same, on a channel whose refresh token keeps the end it was issued with
	// (LinkedIn's), as for every channel whose renewals leave the hard end where it
	// was (Google's and X's have none): the owner index is not written.
	fixed := channel.Sandbox(srv.URL)
	fixed.FixedRefreshEnd = true
	fixedReg, err := channel.NewRegistry(fixed)
	if err != nil {
		b.Fatal(err)
	}
	phase(renewalFixedEnd, costT.Add(2*time.Hour), runCheckOn(newCheck(fixedReg), checkup.OutcomeRefreshed))
	// A probe: the token no longer needs renewing this month, only checking.
	for i, a := range accounts {
		cur, err := st.GetAccount(ctx, a.WorkspaceID, a.ID)
		if err != nil {
			b.Fatal(err)
		}
		after := cur
		after.Version++
		after.TokenExpiresAt, after.DueAt = time.Time{}, costT.Add(125*time.Minute)
		if err := st.Apply(ctx, account.Change{Before: cur, After: after}); err != nil {
			b.Fatal(err)
		}
		sealed, err := st.GetTokens(ctx, cur.WorkspaceID, cur.ID)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := v.OpenTokens(ctx, sealed, vault.AccountBinding(cur.WorkspaceID, cur.ID))
		if err != nil {
			b.Fatal(err)
		}
		tok.AccessExpiresAt = time.Time{}
		resealed, err := v.SealTokens(ctx, tok, vault.AccountBinding(cur.WorkspaceID, cur.ID))
		if err != nil {
			b.Fatal(err)
		}
		if err := st.PutTokens(ctx, cur.WorkspaceID, cur.ID, resealed); err != nil {
			b.Fatal(err)
		}
		accounts[i] = after
	}
	phase("probe (token works)", costT.Add(125*time.Minute), runCheck(checkup.OutcomeChecked))
	// Every grant revoked: the next check disconnects, the reminders send the first
	// step of the series to the owner and the primary admin.
	for _, g := range sb.Grants() {
		if err := sb.Act(g.ID, sandbox.ActRevoke, ""); err != nil {
			b.Fatal(err)
		}
	}
	for _, a := range accounts {
		cur, err := st.GetAccount(ctx, a.WorkspaceID, a.ID)
		if err != nil {
			b.Fatal(err)
		}
		after := cur
		after.Version++
		after.DueAt = costT.Add(26 * time.Hour)
		if err := st.Apply(ctx, account.Change{Before: cur, After: after}); err != nil {
			b.Fatal(err)
		}
	}
	phase("disconnect (revoked)", costT.Add(26*time.Hour), runCheck(checkup.OutcomeDisconnected))
	phase("reminder sent", costT.Add(26*time.Hour+time.Minute), runRemind(digest.CountItems, "(reminder step, person) sent"))
	b.Logf("measured over %d accounts in %d workspaces", n, costWorkspaces)
	return units, tbl.db.cap.snapshotRenewalBytes()
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// consent connects the sandbox profile's pages to workspace ws, as its owner.
func consent(b *testing.B, con *connect.Service, base, ws, profile string) []account.Account {
	ctx := context.Background()
	u, err := con.Start(ctx, connect.Who{WorkspaceID: ws, UserID: "u-owner", Role: workspace.RoleOwner}, channel.SandboxID, "")
	if err != nil {
		b.Fatal(err)
	}
	au, err := url.Parse(u)
	if err != nil {
		b.Fatal(err)
	}
	form := au.Query()
	form.Set("decision", "allow")
	form.Set("profile", profile)
	for _, s := range strings.Fields(form.Get("scope")) {
		form.Add("grant_scope", s)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(base+"/sandbox/oauth/authorize", form)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.Fatal(err)
	}
	out, err := con.Callback(ctx, connect.Callback{State: loc.Query().Get("state"), Code: loc.Query().Get("code")})
	if err != nil {
		b.Fatal(err)
	}
	return out.Accounts
}

// channelMonth is one account's scheduled work in a month on a channel.
type channelMonth struct {
	Channel          string
	Renewals, Probes int
	MovedEnd         int // renewals that moved the token's hard end (they write the owner index)
	Looks            int // by the reminders: daily while the token has a hard end, and when it moves
}

// monthOf runs a month of hourly expiry checks over one fresh account of ch, deciding
// as the expiry check does (probe.NeedsRefresh: renew or probe) and recording each
// check as it does (account.Transition with ActProbe, which sets when the account is
// next due and when the reminders look at it next); the channel always answers that
// the token works. The reminders look whenever the look time has come and plan the
// next look a day on (their lookAgain; no reminder is due for a healthy account).
func monthOf(b *testing.B, ch channel.Channel) channelMonth {
	start := costT
	lt := ch.Lifetime
	tok := vault.Tokens{Access: "a", IssuedAt: start}
	if lt.Refreshable {
		tok.Refresh = "r"
		if lt.RefreshTTL > 0 {
			tok.RefreshExpiresAt = start.Add(lt.RefreshTTL)
		}
	}
	if lt.AccessTTL > 0 && !lt.PageTokensNeverExpire {
		tok.AccessExpiresAt = start.Add(lt.AccessTTL)
	}
	grant := func() *account.Grant {
		return &account.Grant{Scopes: []string{"profile"}, Refreshable: lt.Refreshable,
			TokenExpiresAt: tok.AccessExpiresAt, RefreshExpiresAt: tok.RefreshExpiresAt}
	}
	c, err := account.New(account.Spec{WorkspaceID: "w", ID: "a", Channel: ch.ID, ExternalID: "e", DisplayName: "d", OwnerID: "u",
		Kind: account.KindCompany, Grant: grant()}, account.Command{Actor: account.SystemActor("bench"), At: start, EventID: "e0"})
	if err != nil {
		b.Fatal(err)
	}
	a := c.After
	out := channelMonth{Channel: ch.ID}
	for run := start; run.Before(start.Add(month)); run = run.Add(15 * time.Minute) {
		if run.Minute() == 0 && !a.DueAt.IsZero() && !run.Before(a.DueAt) { // the hourly expiry check
			if probe.NeedsRefresh(ch, tok, run.Add(time.Hour)) {
				out.Renewals++
				tok.IssuedAt = run
				if lt.AccessTTL > 0 {
					tok.AccessExpiresAt = run.Add(lt.AccessTTL)
				}
				if lt.Refreshable && lt.RefreshTTL > 0 && !lt.FixedRefreshEnd {
					tok.RefreshExpiresAt = run.Add(lt.RefreshTTL)
				}
			} else {
				out.Probes++
			}
			c, err := account.Transition(a, account.Command{Action: account.ActProbe, Actor: account.SystemActor("bench"), At: run,
				EventID: run.String(), Grant: grant()})
			if err != nil {
				b.Fatal(err)
			}
			if !c.After.HardExpiry().Equal(a.HardExpiry()) {
				out.MovedEnd++
			}
			a = c.After
		}
		if !a.RemindAt.IsZero() && !run.Before(a.RemindAt) { // the reminders, every 15 minutes
			out.Looks++
			a = account.Reminded(a, run.Add(24*time.Hour), run).After
		}
	}
	return out
}

// model turns the unit costs into the bill at 10k, 100k and 1M accounts, with the
// channels in equal shares.
func model(b *testing.B, units map[string]unitCost, claimBytes int) {
	reg, err := channel.Default("")
	if err != nil {
		b.Fatal(err)
	}
	var per struct{ renewals, movedEnd, probes, looks float64 }
	var lines []string
	busiest := 0.0 // checks per account-month on the busiest channel
	chans := reg.IDs()
	for _, id := range chans {
		ch, err := reg.Get(id)
		if err != nil {
			b.Fatal(err)
		}
		m := monthOf(b, ch)
		per.renewals += float64(m.Renewals) / float64(len(chans))
		per.movedEnd += float64(m.MovedEnd) / float64(len(chans))
		per.probes += float64(m.Probes) / float64(len(chans))
		per.looks += float64(m.Looks) / float64(len(chans))
		busiest = max(busiest, float64(m.Renewals+m.Probes))
		lines = append(lines, fmt.Sprintf("%s %d/%d/%d", ch.ID, m.Renewals, m.Probes, m.Looks))
	}
	record(figure{Section: "cost", Name: "work per account-month (channels in equal shares)", Value: per.renewals + per.probes, Unit: "checks",
		Note: fmt.Sprintf("%.1f renewals (%.1f of them moving the hard end), %.1f probes, %.1f reminder looks; per channel renewals/probes/looks: %s",
			per.renewals, per.movedEnd, per.probes, per.looks, strings.Join(lines, ", "))})
	emails := lostPerMonth * stepsBeforeFix * recipientsPerStep

	renew, prb, look, sent := units["renewal"], units["probe (token works)"], units["reminders look (nothing to send)"], units["reminder sent"]
	lost := units["disconnect (revoked)"]
	emptyCheck, emptyRemind := units["expiry check run, nothing due"], units["reminders run, nothing due"]
	// Per account-month, and per month whatever the size.
	// A renewal costs what the sandbox's did when it moved the hard end, else what the
	// fixed-end variant's did.
	renewFixed := units[renewalFixedEnd]
	moved, kept := per.movedEnd, per.renewals-per.movedEnd
	renew = unitCost{RRU: (moved*renew.RRU + kept*renewFixed.RRU) / per.renewals, WRU: (moved*renew.WRU + kept*renewFixed.WRU) / per.renewals,
		MS: (moved*renew.MS + kept*renewFixed.MS) / per.renewals}
	acctRRU := per.renewals*renew.RRU + per.probes*prb.RRU + per.looks*look.RRU + lostPerMonth*lost.RRU + emails/sent.Emails*sent.RRU
	acctWRU := per.renewals*renew.WRU + per.probes*prb.WRU + per.looks*look.WRU + lostPerMonth*lost.WRU + emails/sent.Emails*sent.WRU
	acctCheckMS := per.renewals*renew.MS + per.probes*prb.MS + lostPerMonth*lost.MS
	acctRemindMS := per.looks*look.MS + emails/sent.Emails*sent.MS
	fixedRRU := expiryRunsMonth*emptyCheck.RRU + reminderRunsMonth*emptyRemind.RRU
	fixedWRU := expiryRunsMonth*emptyCheck.WRU + reminderRunsMonth*emptyRemind.WRU
	fixedGBs := (expiryRunsMonth*emptyCheck.MS*expiryMemoryGB + reminderRunsMonth*emptyRemind.MS*remindersMemoryGB) / 1000
	record(figure{Section: "cost", Name: "request units per account-month", Value: acctRRU + acctWRU, Unit: "RU",
		Note: fmt.Sprintf("%.1f RRU + %.1f WRU; fixed per month: %.0f RRU + %.0f WRU (%d + %d empty runs); emails %.2f (assumed: %.0f%% lost a month × %.1f steps × %d people)",
			acctRRU, acctWRU, fixedRRU, fixedWRU, expiryRunsMonth, reminderRunsMonth, emails, lostPerMonth*100, stepsBeforeFix, recipientsPerStep)})

	// Renewal claims live store.RenewalRetention: those of the last days are stored.
	claimsHeld := per.renewals / (month.Hours() / 24) * store.RenewalRetention.Hours() / 24
	storedPerAccount := bytesPerAccount + claimsHeld*float64(claimBytes+itemOverhead)
	record(figure{Section: "cost", Name: "stored per account", Value: storedPerAccount / 1024, Unit: "KiB",
		Note: fmt.Sprintf("%d KiB assumed for the account, tokens, audit events and reminder records, plus %.0f renewal claims of %d bytes held (kept %v)",
			bytesPerAccount>>10, claimsHeld, claimBytes+itemOverhead, store.RenewalRetention)})

	type bill struct{ ddb, storage, lambda, ses, secrets, scheduler float64 }
	for _, n := range []float64{10_000, 100_000, 1_000_000} {
		gbs := fixedGBs + n*(acctCheckMS*expiryMemoryGB+acctRemindMS*remindersMemoryGB)/1000
		invocations := float64(expiryRunsMonth + reminderRunsMonth)
		secretCalls := float64(expiryRunsMonth*expirySecretReads + reminderRunsMonth*reminderSecretReads)
		x := bill{
			ddb:       (fixedRRU+n*acctRRU)/1e6*prices.PerMillionRRU + (fixedWRU+n*acctWRU)/1e6*prices.PerMillionWRU,
			storage:   n * storedPerAccount / (1 << 30) * prices.PerGBMonth,
			lambda:    gbs*prices.PerGBSecondARM + invocations/1e6*prices.PerMillionInvocations,
			ses:       n * emails / 1000 * prices.PerThousandEmails,
			secrets:   secretCount*prices.PerSecretMonth + secretCalls/1e4*prices.PerTenThousandSecretCalls,
			scheduler: invocations / 1e6 * prices.PerMillionSchedules,
		}
		total := x.ddb + x.storage + x.lambda + x.ses + x.secrets + x.scheduler
		record(figure{Section: "cost", Name: fmt.Sprintf("monthly bill, %s accounts", num(n)), Value: total, Unit: "USD",
			Note: fmt.Sprintf("DynamoDB $%.2f + storage $%.2f, Lambda $%.2f (%.0f GB-s), SES $%.2f, Secrets Manager $%.2f, Scheduler $%.4f; prices of %s",
				x.ddb, x.storage, x.lambda, gbs, x.ses, x.secrets, x.scheduler, prices.Date)})
	}

	scale(units, per.renewals, per.probes, busiest/float64(len(chans)), per.looks+emails/sent.Emails)
}

// The scheduled functions' limits (template.yaml and the services' defaults).
const (
	runBudget      = 900*time.Second - 20*time.Second // ExpiryCheckFunction's Timeout less the margin
	remindBudget   = 300*time.Second - 20*time.Second // RemindersFunction's
	ratePerChannel = 5.0                              // checkup's calls per second per channel, per invocation
	maxPartitions  = store.DefaultShards              // a sweep splits into at most one invocation per shard
	sendRate       = 14.0                             // SES's default sending rate
)

// scale states where one invocation of each scheduled function stops being enough:
// the account count at which a run's due work no longer fits into its budget, by the
// pace measured here and by the per-channel rate limit, and the ceiling with every
// shard in its own invocation.
func scale(units map[string]unitCost, renewals, probes, busiestPerAccount, remindWorkPerAccount float64) {
	renew, prb := units["renewal"], units["probe (token works)"]
	checksPerAccount := renewals + probes
	checkMS := (renewals*renew.MS + probes*prb.MS) / checksPerAccount // the mix the schedule makes
	perRunPace := runBudget.Seconds() * 1000 / checkMS                // due accounts one invocation gets through
	perRunRate := runBudget.Seconds() * ratePerChannel                // calls to the busiest channel it may make
	dueShare := checksPerAccount / expiryRunsMonth                    // due per hourly run, per account
	busiestShare := busiestPerAccount / expiryRunsMonth               // busiest channel's calls per run, per account
	byPace, byRate := perRunPace/dueShare, perRunRate/busiestShare
	one := min(byPace, byRate)
	record(figure{Section: "scale", Name: "expiry check: accounts one invocation can sweep hourly", Value: math.Round(one), Unit: "accounts",
		Note: fmt.Sprintf("%.0f by the pace measured here (%.1f ms per due account, %.2f of all accounts due each run), %.0f by the limit of %.0f calls/s per channel (%.3f calls per account per run on the busiest channel); past it, sweeps partition (sweep.Plan keeps each within half its budget), up to %d invocations: about %.0f accounts",
			byPace, checkMS, dueShare, byRate, ratePerChannel, busiestShare, maxPartitions, one*maxPartitions/2)})
	look := units["reminders look (nothing to send)"]
	remindShare := remindWorkPerAccount / reminderRunsMonth
	byPace = remindBudget.Seconds() * 1000 / look.MS / remindShare
	byMail := remindBudget.Seconds() * sendRate / (lostPerMonth * stepsBeforeFix * recipientsPerStep / reminderRunsMonth)
	record(figure{Section: "scale", Name: "reminders: accounts one invocation can serve every 15 minutes", Value: math.Round(min(byPace, byMail)), Unit: "accounts",
		Note: fmt.Sprintf("%.0f by the pace measured here (%.1f ms per account looked at, %.4f looks per account per run), %.0f by SES at %.0f emails/s",
			byPace, look.MS, remindShare, byMail, sendRate)})
}
