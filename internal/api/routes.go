package api

import (
	"net/http"

	"github.com/relinkhq/relink/internal/admin"
)

func (h *Handler) listAccounts(c call) (result, error) {
	q := c.r.URL.Query()
	limit, err := intParam(q, "limit")
	if err != nil {
		return result{}, err
	}
	days, err := intParam(q, "expiring_within_days")
	if err != nil {
		return result{}, err
	}
	return ok2(h.svc.ListAccounts(c.ctx, c.p, admin.AccountQuery{State: q.Get("state"), Channel: q.Get("channel"),
		OwnerID: q.Get("owner_id"), GroupID: q.Get("group"), ExpiringWithinDays: days, Limit: limit, Cursor: q.Get("cursor")}))
}

func (h *Handler) getAccount(c call) (result, error) {
	return ok2(h.svc.GetAccount(c.ctx, c.p, c.r.PathValue("id")))
}

func (h *Handler) events(c call) (result, error) {
	p, err := page(c.r.URL.Query())
	if err != nil {
		return result{}, err
	}
	return ok2(h.svc.Events(c.ctx, c.p, c.r.PathValue("id"), p))
}

func (h *Handler) deactivate(c call) (result, error) {
	var n admin.Note
	if err := decode(c.r, &n, true); err != nil {
		return result{}, err
	}
	return ok2(h.svc.Deactivate(c.ctx, c.p, c.r.PathValue("id"), n))
}

func (h *Handler) activate(c call) (result, error) {
	var n admin.Note
	if err := decode(c.r, &n, true); err != nil {
		return result{}, err
	}
	return ok2(h.svc.Activate(c.ctx, c.p, c.r.PathValue("id"), n))
}

func (h *Handler) readd(c call) (result, error) {
	if err := decode(c.r, &struct{}{}, true); err != nil {
		return result{}, err
	}
	return ok2(h.svc.Readd(c.ctx, c.p, c.r.PathValue("id")))
}

func (h *Handler) remind(c call) (result, error) {
	if err := decode(c.r, &struct{}{}, true); err != nil {
		return result{}, err
	}
	return ok2(h.svc.Remind(c.ctx, c.p, c.r.PathValue("id")))
}

func (h *Handler) transfer(c call) (result, error) {
	var t admin.Transfer
	if err := decode(c.r, &t, false); err != nil {
		return result{}, err
	}
	return ok2(h.svc.Transfer(c.ctx, c.p, c.r.PathValue("id"), t))
}

func (h *Handler) deleteAccount(c call) (result, error) {
	var d admin.Deletion
	if err := decode(c.r, &d, true); err != nil {
		return result{}, err
	}
	return ok2(h.svc.Delete(c.ctx, c.p, c.r.PathValue("id"), d))
}

func (h *Handler) restore(c call) (result, error) {
	var n admin.Note
	if err := decode(c.r, &n, true); err != nil {
		return result{}, err
	}
	return ok2(h.svc.Restore(c.ctx, c.p, c.r.PathValue("id"), n))
}

func (h *Handler) reportFailure(c call) (result, error) {
	var f admin.FailureReport
	if err := decode(c.r, &f, false); err != nil {
		return result{}, err
	}
	return ok2(h.svc.ReportFailure(c.ctx, c.p, c.r.PathValue("id"), f))
}

func (h *Handler) listUsers(c call) (result, error) {
	users, err := h.svc.ListUsers(c.ctx, c.p)
	return ok2(map[string]any{"users": users}, err)
}

func (h *Handler) createUser(c call) (result, error) {
	var in admin.NewUser
	if err := decode(c.r, &in, false); err != nil {
		return result{}, err
	}
	u, err := h.svc.CreateUser(c.ctx, c.p, in)
	if err != nil {
		return result{}, err
	}
	return created(u)
}

func (h *Handler) getUser(c call) (result, error) {
	return ok2(h.svc.GetUser(c.ctx, c.p, c.r.PathValue("id")))
}

func (h *Handler) updateUser(c call) (result, error) {
	var in admin.UserPatch
	if err := decode(c.r, &in, false); err != nil {
		return result{}, err
	}
	return ok2(h.svc.UpdateUser(c.ctx, c.p, c.r.PathValue("id"), in))
}

func (h *Handler) getPreferences(c call) (result, error) {
	return ok2(h.svc.GetPreferences(c.ctx, c.p, c.r.PathValue("id")))
}

func (h *Handler) setPreferences(c call) (result, error) {
	var in admin.PreferencesPatch
	if err := decode(c.r, &in, false); err != nil {
		return result{}, err
	}
	return ok2(h.svc.SetPreferences(c.ctx, c.p, c.r.PathValue("id"), in))
}

func (h *Handler) connectLink(c call) (result, error) {
	var in admin.ConnectLinkRequest
	if err := decode(c.r, &in, true); err != nil {
		return result{}, err
	}
	return ok2(h.svc.ConnectLink(c.ctx, c.p, c.r.PathValue("id"), in))
}

func (h *Handler) listGroups(c call) (result, error) {
	groups, err := h.svc.ListGroups(c.ctx, c.p)
	return ok2(map[string]any{"groups": groups}, err)
}

func (h *Handler) createGroup(c call) (result, error) {
	var in admin.GroupInput
	if err := decode(c.r, &in, false); err != nil {
		return result{}, err
	}
	g, err := h.svc.CreateGroup(c.ctx, c.p, in)
	if err != nil {
		return result{}, err
	}
	return created(g)
}

func (h *Handler) getGroup(c call) (result, error) {
	return ok2(h.svc.GetGroup(c.ctx, c.p, c.r.PathValue("id")))
}

func (h *Handler) updateGroup(c call) (result, error) {
	var in admin.GroupInput
	if err := decode(c.r, &in, false); err != nil {
		return result{}, err
	}
	return ok2(h.svc.UpdateGroup(c.ctx, c.p, c.r.PathValue("id"), in))
}

func (h *Handler) deleteGroup(c call) (result, error) {
	if err := h.svc.DeleteGroup(c.ctx, c.p, c.r.PathValue("id")); err != nil {
		return result{}, err
	}
	return result{status: http.StatusNoContent}, nil
}

func (h *Handler) addAccounts(c call) (result, error) {
	var in admin.AccountIDs
	if err := decode(c.r, &in, false); err != nil {
		return result{}, err
	}
	return ok2(h.svc.AddAccounts(c.ctx, c.p, c.r.PathValue("id"), in))
}

func (h *Handler) removeAccount(c call) (result, error) {
	return ok2(h.svc.RemoveAccount(c.ctx, c.p, c.r.PathValue("id"), c.r.PathValue("account_id")))
}

func (h *Handler) invite(c call) (result, error) {
	var in admin.InviteRequest
	if err := decode(c.r, &in, false); err != nil {
		return result{}, err
	}
	return ok2(h.svc.Invite(c.ctx, c.p, in))
}

func (h *Handler) dashboard(c call) (result, error) {
	return ok2(h.svc.Dashboard(c.ctx, c.p))
}

func (h *Handler) getWorkspace(c call) (result, error) {
	return ok2(h.svc.GetWorkspace(c.ctx, c.p))
}

func (h *Handler) updateWorkspace(c call) (result, error) {
	var in admin.WorkspacePatch
	if err := decode(c.r, &in, false); err != nil {
		return result{}, err
	}
	return ok2(h.svc.UpdateWorkspace(c.ctx, c.p, in))
}

// ok2 answers 200 with v, or the error.
func ok2[T any](v T, err error) (result, error) {
	if err != nil {
		return result{}, err
	}
	return ok(v)
}
