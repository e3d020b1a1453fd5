package digest

import (
	"slices"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/reminder"
)

// Capability words people read.
var capabilityWords = map[account.Capability]string{
	account.CapPublish: "publishing", account.CapEngage: "engagement", account.CapReport: "reporting", account.CapAds: "ads",
}

// Item describes one account in an email: what is wrong in plain words, what does not
// work, each missing permission, and the deadline when it is expiring.
func Item(reg *channel.Registry, a account.Account, kind reminder.Kind, owner string) mail.DigestItem {
	it := mail.DigestItem{Account: a.DisplayName, Channel: a.Channel, Owner: owner, Kind: string(kind)}
	ch, err := reg.Get(a.Channel)
	if err == nil {
		it.Channel = ch.Name
	}
	switch kind {
	case reminder.KindExpiring:
		it.Deadline = a.HardExpiry()
		it.Why = "The connection ends on " + a.HardExpiry().UTC().Format("Monday 2 January 2006") +
			" unless it is reconnected before then. Reconnecting renews it."
	case reminder.KindActionRequired, reminder.KindStillActionRequired:
		it.Why = "It is connected, but permissions are missing, so some features do not work. Reconnect and allow everything asked for."
	default:
		if a.State == account.StatePending {
			it.Why = "It was added but never connected."
		} else {
			it.Why = channel.Message(a.Reason)
		}
		if kind == reminder.KindStillDisconnected {
			it.Why = "Still disconnected since " + a.TroubleSince.UTC().Format("2 January") + ". " + it.Why
		}
	}
	var breaks []account.Capability
	for _, m := range a.Missing {
		label := m.Name
		for _, p := range ch.Permissions {
			if p.Name == m.Name && p.Kind == m.Kind {
				label = p.Label + " (" + m.Name + ")"
			}
		}
		it.Missing = append(it.Missing, label)
		for _, c := range m.Breaks {
			if !slices.Contains(breaks, c) {
				breaks = append(breaks, c)
			}
		}
	}
	if a.State == account.StateDisconnected {
		breaks = channel.Capabilities // nothing works through a dead token
	}
	it.Breaks = Words(breaks)
	return it
}

// Words lists capabilities in plain words: "publishing, engagement and reporting".
func Words(cs []account.Capability) string {
	var w []string
	for _, c := range channel.Capabilities {
		if slices.Contains(cs, c) {
			w = append(w, capabilityWords[c])
		}
	}
	switch len(w) {
	case 0:
		return ""
	case 1:
		return w[0]
	}
	return strings.Join(w[:len(w)-1], ", ") + " and " + w[len(w)-1]
}

// KindNow is what an account needs at now, for a one-off reminder an admin asks for:
// false when it is connected and not expiring.
func KindNow(a account.Account, now time.Time, window time.Duration) (reminder.Kind, bool) {
	switch {
	case a.State == account.StateDisconnected && a.Reason == account.ReasonExpired:
		return reminder.KindExpired, true
	case a.State == account.StateDisconnected, a.State == account.StatePending:
		return reminder.KindDisconnected, true
	case a.State == account.StateActionRequired:
		return reminder.KindActionRequired, true
	case a.Expiring(now, window):
		return reminder.KindExpiring, true
	}
	return "", false
}
