package channel

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/relinkhq/relink/internal/account"
)

// graphVersion is the Graph API version in Meta URLs (channels.md §1.1).
const graphVersion = "v19.0"

const day = 24 * time.Hour

// Capability sets for permission tables.
var (
	needAll     = []account.Capability{account.CapPublish, account.CapEngage, account.CapReport, account.CapAds}
	needPublish = []account.Capability{account.CapPublish}
	needEngage  = []account.Capability{account.CapEngage}
	needReport  = []account.Capability{account.CapReport}
	needAds     = []account.Capability{account.CapAds}
)

// permScope and permTask build permission entries; needs are copied so that no two
// entries share a slice.
func permScope(name, label string, needs ...account.Capability) Permission {
	return Permission{Name: name, Kind: KindScope, Label: label, Needs: slices.Clone(needs)}
}

func permTask(name, label string, needs ...account.Capability) Permission {
	return Permission{Name: name, Kind: KindTask, Label: label, Needs: slices.Clone(needs)}
}

// metaLifetime: no refresh token; a short-lived user token is exchanged for a ~60-day
// one (fb_exchange_token), and Page tokens derived from it report expires_at 0 (§1.1).
var metaLifetime = Lifetime{
	LongLivedExchange:     "fb_exchange_token",
	AccessTTL:             60 * day,
	PageTokensNeverExpire: true,
	RefreshLead:           7 * day,
}

func metaEndpoints() Endpoints {
	graph := "https://graph.facebook.com/" + graphVersion
	return Endpoints{
		AuthorizeURL:  "https://www.facebook.com/" + graphVersion + "/dialog/oauth",
		TokenURL:      graph + "/oauth/access_token",
		ExchangeURL:   graph + "/oauth/access_token",
		Introspect:    IntrospectDebugToken,
		IntrospectURL: graph + "/debug_token",
	}
}

// Facebook is Facebook Pages: the permission and Page-task matrix of §1.4–1.5.
func Facebook() Channel {
	return Channel{
		ID: "facebook", Name: "Facebook Pages",
		Endpoints: metaEndpoints(), Lifetime: metaLifetime,
		BaseScopes:    []string{"pages_show_list"},
		ParentProfile: true,
		Permissions: []Permission{
			permScope("pages_show_list", "See the Pages you manage", needAll...),
			permScope("pages_manage_posts", "Create, edit and delete the Page's posts", needPublish...),
			permScope("pages_read_engagement", "Read the Page's content, followers and engagement", account.CapPublish, account.CapEngage, account.CapReport),
			permScope("pages_manage_engagement", "Reply to, hide and delete comments", account.CapPublish, account.CapEngage),
			// The Pages guides say pages_read_user_engagement; the permission reference
			// says pages_read_user_content (§1.4, §13.6). Relink asks for the latter.
			permScope("pages_read_user_content", "Read what people post on the Page and their comments", needEngage...),
			permScope("publish_video", "Publish videos", needPublish...),
			permScope("pages_manage_metadata", "Manage Page settings and subscribe to its webhooks", needEngage...),
			permScope("pages_messaging", "Read and answer the Page's Messenger conversations", needEngage...),
			permScope("read_insights", "Read Page Insights", needReport...),
			permScope("ads_management", "Manage the Page's ads", needAds...),
			permTask("MANAGE", "Full control of the Page, needed for its real-time webhooks", needEngage...),
			permTask("CREATE_CONTENT", "Publish as the Page", needPublish...),
			permTask("MODERATE", "Reply to, hide and delete comments", needEngage...),
			permTask("MESSAGING", "Send and read the Page's messages", needEngage...),
			permTask("ADVERTISE", "Run ads for the Page", needAds...),
			permTask("ANALYZE", "See the Page's insights", needReport...),
		},
		Classify: classifyMeta,
	}
}

// Instagram is an Instagram professional account reached through Facebook Login and
// its linked Page (§2.1): Facebook tokens, Facebook errors.
func Instagram() Channel {
	return Channel{
		ID: "instagram", Name: "Instagram (via Facebook Login)",
		Endpoints: metaEndpoints(), Lifetime: metaLifetime,
		BaseScopes:    []string{"pages_show_list", "instagram_basic"},
		ParentProfile: true,
		Permissions: []Permission{
			permScope("instagram_basic", "Read the account's profile and media", needAll...),
			permScope("pages_show_list", "See the Page linked to the account", needAll...),
			permScope("instagram_content_publish", "Publish posts", needPublish...),
			permScope("instagram_manage_comments", "Create, hide and delete comments", needEngage...),
			permScope("instagram_manage_insights", "Read the account's insights", needReport...),
			permScope("instagram_manage_messages", "Read and answer direct messages", needEngage...),
			// Publishing needs MANAGE or CREATE_CONTENT on the linked Page; MANAGE
			// includes CREATE_CONTENT in every Page role, so one task is checked.
			permTask("CREATE_CONTENT", "Publish as the linked Page", needPublish...),
		},
		Classify: classifyMeta,
	}
}

// InstagramLogin is the Instagram API with Instagram Login (§2.2): no Page needed; a
// short-lived token becomes a 60-day one that renews itself once a day old.
func InstagramLogin() Channel {
	return Channel{
		ID: "instagram_login", Name: "Instagram (Instagram Login)",
		Endpoints: Endpoints{
			AuthorizeURL:  "https://www.instagram.com/oauth/authorize",
			TokenURL:      "https://api.instagram.com/oauth/access_token",
			ExchangeURL:   "https://graph.instagram.com/access_token",
			RefreshURL:    "https://graph.instagram.com/refresh_access_token",
			Introspect:    IntrospectMe, // no debug_token documented for graph.instagram.com (§13.7)
			IntrospectURL: "https://graph.instagram.com/me?fields=user_id,username",
			IdentityURL:   "https://graph.instagram.com/me?fields=user_id,username",
		},
		Lifetime: Lifetime{
			LongLivedExchange: "ig_exchange_token",
			SelfRefreshGrant:  "ig_refresh_token",
			SelfRefreshMinAge: day,
			AccessTTL:         60 * day,
			RefreshLead:       7 * day,
		},
		BaseScopes: []string{"instagram_business_basic"},
		Permissions: []Permission{
			permScope("instagram_business_basic", "Read the account's profile and media", needAll...),
			permScope("instagram_business_content_publish", "Publish posts", needPublish...),
			permScope("instagram_business_manage_comments", "Create, hide and delete comments", needEngage...),
			permScope("instagram_business_manage_messages", "Read and answer direct messages", needEngage...),
			permScope("instagram_business_manage_insights", "Read the account's insights", needReport...),
		},
		Classify: classifyMeta, // Graph-style errors, observed (§2.2)
	}
}

// Threads (§3): like Instagram Login, a 60-day token renewed with itself; a token not
// renewed within 60 days is dead.
func Threads() Channel {
	return Channel{
		ID: "threads", Name: "Threads",
		Endpoints: Endpoints{
			AuthorizeURL:  "https://threads.net/oauth/authorize",
			TokenURL:      "https://graph.threads.net/oauth/access_token",
			ExchangeURL:   "https://graph.threads.net/access_token",
			RefreshURL:    "https://graph.threads.net/refresh_access_token",
			Introspect:    IntrospectDebugToken,
			IntrospectURL: "https://graph.threads.net/v1.0/debug_token",
			IdentityURL:   "https://graph.threads.net/v1.0/me?fields=id,username",
		},
		Lifetime: Lifetime{
			LongLivedExchange: "th_exchange_token",
			SelfRefreshGrant:  "th_refresh_token",
			SelfRefreshMinAge: day,
			AccessTTL:         60 * day,
			RefreshLead:       7 * day,
		},
		BaseScopes: []string{"threads_basic"},
		Permissions: []Permission{
			permScope("threads_basic", "Read the profile and posts", needAll...),
			permScope("threads_content_publish", "Publish posts", needPublish...),
			permScope("threads_manage_replies", "Reply and manage replies", needEngage...),
			permScope("threads_read_replies", "Read replies", needEngage...),
			permScope("threads_manage_insights", "Read insights", needReport...),
		},
		Classify: classifyMeta,
	}
}

// graphError is Meta's error object. API calls spell the subcode error_subcode;
// debug_token's data.error spells it subcode (§1.2).
type graphError struct {
	Message      string `json:"message"`
	Type         string `json:"type"`
	Code         int    `json:"code"`
	ErrorSubcode int    `json:"error_subcode"`
	Subcode      int    `json:"subcode"`
}

// classifyMeta reads Graph API errors (Facebook, Instagram, Threads): the envelope
// {"error":{…}} of API calls and {"data":{"is_valid":false,"error":{…}}} of debug_token.
// It branches on code and subcode, never on the message text (§12).
func classifyMeta(status int, body []byte) Classification {
	var env struct {
		Error *graphError `json:"error"`
		Data  *struct {
			IsValid *bool       `json:"is_valid"`
			Error   *graphError `json:"error"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil {
		return byStatus(status)
	}
	e := env.Error
	if e == nil && env.Data != nil {
		e = env.Data.Error
		if e == nil && env.Data.IsValid != nil && !*env.Data.IsValid {
			return withError(dead(account.ReasonInvalidToken), status, "", "", "")
		}
	}
	if e == nil {
		return byStatus(status)
	}
	sub := e.ErrorSubcode
	if sub == 0 {
		sub = e.Subcode
	}
	return withError(metaRule(status, e.Code, sub, e.Type), status, itoa(e.Code), itoa(sub), e.Message)
}

// metaRule is the code/subcode table of §1.3 with the classes of §12.
func metaRule(status, code, sub int, typ string) Classification {
	switch {
	case transientStatus(status) && status != 0:
		return Transient()
	case code == 1 && sub == 2853006: // "Viewer doesn't have permission to perform this action." (§1.3)
		return permissionMissing()
	case code == 190 && sub == 2069032: // a Page token was needed: Relink's mistake, not the account's (§1.3)
		return rejected()
	case code == 1 || code == 2 || code == 4 || code == 17 || code == 32 || code == 341 || code == 368 || code == 613:
		return Transient() // unknown/service errors, throttling, temporary blocks: retry later
	case code == 190 || code == 102 || (code == 0 && typ == "OAuthException"):
		switch sub {
		case 463:
			return dead(account.ReasonExpired)
		case 458:
			return dead(account.ReasonAppRemoved)
		case 460:
			return dead(account.ReasonPasswordChanged)
		case 459, 464:
			return dead(account.ReasonCheckpoint)
		case 492:
			return dead(account.ReasonRoleLost)
		case 493: // §1.3, from an issue thread: 90 days without engaging the app
			return dead(account.ReasonDataAccessExpired)
		default: // 467 and no subcode: expired, revoked or otherwise invalid
			return dead(account.ReasonInvalidToken)
		}
	case code == 10 || code == 3 || (code >= 200 && code <= 299 && sub != 2069030 && sub != 2069031 && sub != 2069033):
		return permissionMissing()
	case code == 100 && sub == 33: // observed: the object no longer exists (not in channels.md)
		return dead(account.ReasonPageDeleted)
	case code != 0:
		return rejected() // 506 duplicate post, 1609005 bad link, unsupported endpoints…
	}
	return byStatus(status)
}
