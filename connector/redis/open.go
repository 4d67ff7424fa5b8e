// Package redis is the bridge's Redis adapter: a durable, deduplicating queue
// on Redis Streams with retries and dead letters, a crash-safe processing
// claim, and a small key/value store.
//
// All keys start with "bridge:". Keys of one queue share the hash tag
// {NAME}, so the multi-key scripts stay atomic on Redis Cluster.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Default client timeouts, used when the URL sets none. They keep a dead
// Redis from holding a webhook past the sender's own timeout.
const (
	defaultDialTimeout  = 2 * time.Second
	defaultReadTimeout  = 3 * time.Second
	defaultWriteTimeout = 3 * time.Second
	// go-redis dials 5 times per attempt by default; against a refused
	// port that makes a webhook wait seconds before it can answer 503.
	defaultDialerRetries = 2
)

// Open connects to Redis and pings it. Accepted URL forms:
//
//	redis://[user:pass@]host:port[/db][?opts]      single node (go-redis ParseURL)
//	rediss://…                                    the same over TLS
//	unix://[user:pass@]/path/to/socket[?db=N]
//	redis+sentinel://[user:pass@]h1:26379,h2:26379/mastername[/db][?opts]
//	rediss+sentinel://…                           TLS to sentinels and master
//	redis+cluster://[user:pass@]h1:7000,h2:7001[?opts]
//	rediss+cluster://…
//
// For Sentinel the userinfo is the master's credentials; the sentinels' own
// are the query options sentinel_username and sentinel_password. Other query
// options are go-redis's (dial_timeout, read_timeout, pool_size, …).
//
// Errors name what failed and never contain the password.
func Open(ctx context.Context, rawURL string) (goredis.UniversalClient, error) {
	c, err := newClient(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis: parse BRIDGE_REDIS_URL %s: %w", redactURL(rawURL), err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis: ping %s: %w", redactURL(rawURL), scrub(err, rawURL))
	}
	return c, nil
}

// NewClient builds a client without contacting Redis, so a server can start,
// answer /healthz and report Redis on /readyz while it is down. Errors name
// what is wrong with the URL and never contain the password.
func NewClient(rawURL string) (goredis.UniversalClient, error) {
	c, err := newClient(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis: parse %s: %w", redactURL(rawURL), err)
	}
	return c, nil
}

func newClient(rawURL string) (goredis.UniversalClient, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, errors.New("missing scheme (want redis://, rediss://, redis+sentinel:// or redis+cluster://)")
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		o, err := goredis.ParseURL(rawURL)
		if err != nil {
			return nil, scrub(err, rawURL)
		}
		o.DialTimeout = orDefault(o.DialTimeout, defaultDialTimeout)
		o.ReadTimeout = orDefault(o.ReadTimeout, defaultReadTimeout)
		o.WriteTimeout = orDefault(o.WriteTimeout, defaultWriteTimeout)
		if o.DialerRetries == 0 {
			o.DialerRetries = defaultDialerRetries
		}
		return goredis.NewClient(o), nil
	case "redis+sentinel", "rediss+sentinel":
		o, err := parseSentinelURL(rawURL)
		if err != nil {
			return nil, scrub(err, rawURL)
		}
		return goredis.NewFailoverClient(o), nil
	case "redis+cluster", "rediss+cluster":
		o, err := parseClusterURL(rawURL)
		if err != nil {
			return nil, scrub(err, rawURL)
		}
		return goredis.NewClusterClient(o), nil
	default:
		return nil, fmt.Errorf("unknown scheme %q (want redis://, rediss://, redis+sentinel:// or redis+cluster://)", scheme)
	}
}

// multiHost is a URL whose host part lists several host:port pairs, which
// net/url refuses to parse.
type multiHost struct {
	tls   bool
	user  *url.Userinfo
	hosts []string
	path  string
	query url.Values
}

func parseMultiHost(rawURL string) (multiHost, error) {
	var m multiHost
	scheme, rest, _ := strings.Cut(rawURL, "://")
	m.tls = strings.HasPrefix(strings.ToLower(scheme), "rediss")
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	m.path = path
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		// Reuse net/url for userinfo decoding.
		u, err := url.Parse("redis://" + authority[:at+1] + "host")
		if err != nil {
			return m, errors.New("invalid user info")
		}
		m.user = u.User
		authority = authority[at+1:]
	}
	for h := range strings.SplitSeq(authority, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if !strings.Contains(h, ":") {
			return m, fmt.Errorf("host %q has no port", h)
		}
		m.hosts = append(m.hosts, h)
	}
	if len(m.hosts) == 0 {
		return m, errors.New("no hosts")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return m, errors.New("invalid query")
	}
	m.query = q
	return m, nil
}

// goredisURL rebuilds the first host plus addr= parameters, the multi-host
// form go-redis's own parsers understand; credentials are set afterwards.
func (m multiHost) goredisURL(path string, extra url.Values) string {
	q := url.Values{}
	for k, v := range m.query {
		q[k] = v
	}
	for k, v := range extra {
		q[k] = v
	}
	for _, h := range m.hosts[1:] {
		q.Add("addr", h)
	}
	scheme := "redis"
	if m.tls {
		scheme = "rediss"
	}
	return scheme + "://" + m.hosts[0] + "/" + path + "?" + q.Encode()
}

func parseSentinelURL(rawURL string) (*goredis.FailoverOptions, error) {
	m, err := parseMultiHost(rawURL)
	if err != nil {
		return nil, err
	}
	master, db, _ := strings.Cut(m.path, "/")
	if master == "" {
		return nil, errors.New("sentinel URL needs the master name as its path: redis+sentinel://h1:26379,h2:26379/mymaster")
	}
	sentinelUser, sentinelPass := m.query.Get("sentinel_username"), m.query.Get("sentinel_password")
	m.query.Del("sentinel_username")
	m.query.Del("sentinel_password")
	o, err := goredis.ParseFailoverURL(m.goredisURL(db, url.Values{"master_name": {master}}))
	if err != nil {
		return nil, err
	}
	if m.user != nil {
		o.Username = m.user.Username()
		o.Password, _ = m.user.Password()
	}
	o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPass
	o.DialTimeout = orDefault(o.DialTimeout, defaultDialTimeout)
	o.ReadTimeout = orDefault(o.ReadTimeout, defaultReadTimeout)
	o.WriteTimeout = orDefault(o.WriteTimeout, defaultWriteTimeout)
	if o.DialerRetries == 0 {
		o.DialerRetries = defaultDialerRetries
	}
	return o, nil
}

func parseClusterURL(rawURL string) (*goredis.ClusterOptions, error) {
	m, err := parseMultiHost(rawURL)
	if err != nil {
		return nil, err
	}
	if m.path != "" {
		return nil, errors.New("cluster URL takes no path (Redis Cluster has only db 0)")
	}
	o, err := goredis.ParseClusterURL(m.goredisURL("", nil))
	if err != nil {
		return nil, err
	}
	if m.user != nil {
		o.Username = m.user.Username()
		o.Password, _ = m.user.Password()
	}
	o.DialTimeout = orDefault(o.DialTimeout, defaultDialTimeout)
	o.ReadTimeout = orDefault(o.ReadTimeout, defaultReadTimeout)
	o.WriteTimeout = orDefault(o.WriteTimeout, defaultWriteTimeout)
	if o.DialerRetries == 0 {
		o.DialerRetries = defaultDialerRetries
	}
	return o, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// redactURL keeps scheme and hosts and drops userinfo and query (the query
// may carry sentinel_password).
func redactURL(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "(URL without scheme)"
	}
	rest, _, _ = strings.Cut(rest, "?")
	authority, path, hasPath := strings.Cut(rest, "/")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = "xxxxx@" + authority[at+1:]
	}
	out := scheme + "://" + authority
	if hasPath {
		out += "/" + path
	}
	return out
}

// scrub removes the URL's password and query values from err's text;
// net/url errors quote the whole URL, so only their cause is kept.
func scrub(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	clean := msg
	for _, s := range secretsIn(rawURL) {
		if len(s) >= 3 {
			clean = strings.ReplaceAll(clean, s, "xxxxx")
		}
	}
	if clean != msg {
		// Not wrapped: the original would still carry the secret.
		return errors.New(clean)
	}
	return err
}

func secretsIn(rawURL string) []string {
	_, rest, _ := strings.Cut(rawURL, "://")
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, _, _ := strings.Cut(rest, "/")
	var out []string
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		info := authority[:at]
		if _, pass, ok := strings.Cut(info, ":"); ok {
			out = append(out, pass)
			if dec, err := url.PathUnescape(pass); err == nil {
				out = append(out, dec)
			}
		} else {
			out = append(out, info)
		}
	}
	if q, err := url.ParseQuery(rawQuery); err == nil {
		for k, vs := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				out = append(out, vs...)
			}
		}
	}
	return out
}
