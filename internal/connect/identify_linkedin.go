package connect

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// DefaultLinkedInVersion is the LinkedIn-Version (YYYYMM) of identity calls. LinkedIn
// sunsets a version about a year after its release, so this moves with the API.
const DefaultLinkedInVersion = "202608"

// linkedInPageSize is the count asked per page of ACLs and per batch lookup.
const linkedInPageSize = 100

// LinkedInIdentifier lists the organization pages the member administers (the
// organizationAcls roleAssignee finder), each a company account under the member.
//
// The member is read from the ACLs' roleAssignee, which the finder fills with the
// caller: /v2/userinfo and /v2/me would need openid/profile or r_basicprofile, which
// the channel does not request. A member who administers no page gets no account
// (the connect says the login grants none), and a token without the organization
// scope is refused with the channel's permission_missing: the channel is LinkedIn
// Pages, and a personal profile connected instead would show every page permission
// as missing for ever.
type LinkedInIdentifier struct {
	HTTP    *http.Client
	Version string // "" means DefaultLinkedInVersion
}

var _ Identifier = LinkedInIdentifier{}

func (li LinkedInIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	version := li.Version
	if version == "" {
		version = DefaultLinkedInVersion
	}
	header := http.Header{}
	header.Set("LinkedIn-Version", version)          // versioned /rest APIs refuse calls without it
	header.Set("X-Restli-Protocol-Version", "2.0.0") // finders and List() syntax need it

	type org struct{ urn, id, role string }
	var (
		orgs   []org
		member string
		seen   = map[string]bool{}
		calls  int
	)
	for start := 0; calls < maxAccountPages; {
		var page struct {
			Elements []struct {
				Organization string `json:"organization"`
				// Some answers name the page organizationTarget instead (observed by
				// integrators, not in channels.md).
				OrganizationTarget string `json:"organizationTarget"`
				RoleAssignee       string `json:"roleAssignee"`
				Role               string `json:"role"`
				State              string `json:"state"`
			} `json:"elements"`
			Paging struct {
				Total *int `json:"total"`
			} `json:"paging"`
		}
		q := url.Values{"start": {strconv.Itoa(start)}, "count": {strconv.Itoa(linkedInPageSize)}}
		calls++
		if err := fetchJSON(ctx, li.HTTP, ch, withQuery(ch.IdentityURL, q), tok, header, &page); err != nil {
			return nil, err
		}
		for _, e := range page.Elements {
			if e.Organization == "" {
				e.Organization = e.OrganizationTarget
			}
			if member == "" {
				member = e.RoleAssignee
			}
			// The finder filters on both already; an answer that ignored the filter
			// must not turn an analyst into an administrator.
			if e.Role != "ADMINISTRATOR" || e.State != "APPROVED" || seen[e.Organization] {
				continue
			}
			if id, ok := linkedInOrgID(e.Organization); ok {
				seen[e.Organization] = true
				orgs = append(orgs, org{urn: e.Organization, id: id, role: e.Role})
			}
		}
		start += len(page.Elements)
		if len(page.Elements) < linkedInPageSize || (page.Paging.Total != nil && start >= *page.Paging.Total) {
			break
		}
	}

	// Names by batch lookup, one call per page of organizations.
	names := map[string]string{}
	for i := 0; i < len(orgs) && calls < maxIdentityCalls; i += linkedInPageSize {
		batch := orgs[i:min(i+linkedInPageSize, len(orgs))]
		ids := make([]string, len(batch))
		for j, o := range batch {
			ids[j] = o.id
		}
		var res struct {
			Results map[string]struct {
				LocalizedName string `json:"localizedName"`
				VanityName    string `json:"vanityName"`
			} `json:"results"`
		}
		calls++
		// Rest.li 2.0 list syntax; the IDs are digits only, so nothing needs escaping.
		u := strings.TrimRight(ch.AccountsURL, "/") + "?ids=List(" + strings.Join(ids, ",") + ")"
		if err := fetchJSON(ctx, li.HTTP, ch, u, tok, header, &res); err != nil {
			return nil, err
		}
		for id, r := range res.Results {
			if r.LocalizedName != "" {
				names[id] = r.LocalizedName
			} else if r.VanityName != "" {
				names[id] = r.VanityName
			}
		}
	}

	out := make([]Identity, 0, len(orgs))
	for _, o := range orgs {
		name := names[o.id]
		if name == "" {
			name = o.urn // a page LinkedIn would not describe is still the member's to manage
		}
		out = append(out, Identity{ExternalID: o.urn, Name: name, Parent: member, Kind: account.KindCompany,
			Tasks: []string{o.role}})
	}
	return out, nil
}

// linkedInOrgID returns the numeric ID of an organization (or brand) URN.
func linkedInOrgID(urn string) (string, bool) {
	for _, prefix := range []string{"urn:li:organization:", "urn:li:organizationBrand:"} {
		if id, ok := strings.CutPrefix(urn, prefix); ok && id != "" && strings.Trim(id, "0123456789") == "" {
			return id, true
		}
	}
	return "", false
}
