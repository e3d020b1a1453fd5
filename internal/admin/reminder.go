package admin

import (
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/reminder"
	"github.com/relinkhq/relink/internal/workspace"
)

// nextReminder is the next reminder the account's policy will send, nil for none.
func nextReminder(a account.Account, s workspace.Settings, now time.Time) *ReminderView {
	st, ok := reminder.Next(a, s, now)
	if !ok {
		return nil
	}
	return &ReminderView{Policy: string(st.Policy), Step: st.N, At: st.At.UTC(), Kind: string(st.Kind)}
}
