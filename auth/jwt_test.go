package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cityhealth/bridge/test/testclock"
	"github.com/golang-jwt/jwt/v5"
)

var (
	testNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testSecret = []byte("0123456789abcdef0123456789abcdef")
)

const testWorker = "WKfedcba9876543210fedcba9876543210"

// Keys are generated once: RSA generation is slow.
var testKeys = sync.OnceValue(func() (k struct {
	rsa, rsaOther *rsa.PrivateKey
	ec, ecOther   *ecdsa.PrivateKey
}) {
	var err error
	must := func() {
		if err != nil {
			panic(err)
		}
	}
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must()
	k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
	must()
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must()
	k.ecOther, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must()
	return k
})

func newClock() *testclock.Clock { return testclock.At(testNow) }

func baseClaims(role string) jwt.MapClaims {
	return jwt.MapClaims{
		"sub":        "ana",
		"role":       role,
		"worker_sid": testWorker,
		"iss":        "bridge",
		"aud":        "bridge",
		"iat":        testNow.Unix(),
		"exp":        testNow.Add(time.Hour).Unix(),
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func MustSign(tb testing.TB, m jwt.SigningMethod, key any, c jwt.Claims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return s
}

func MustNew(tb testing.TB, cfg Config) *Authenticator {
	tb.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	a, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return a
}

func TestVerifyJWT_HS256(t *testing.T) {
	a := MustNew(t, Config{HMACSecret: testSecret})
	hs := func(c jwt.MapClaims) string { return MustSign(t, jwt.SigningMethodHS256, testSecret, c) }
	agent := baseClaims("agent")

	// alg=none: the library only signs it with this magic key.
	none := MustSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, agent)

	// Valid header and payload with the signature of another token.
	good := hs(agent)
	otherSig := hs(with(agent, "sub", "eve"))
	spliced := good[:strings.LastIndex(good, ".")] + otherSig[strings.LastIndex(otherSig, "."):]

	// Payload edited to admin, signature kept.
	parts := strings.Split(good, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(
		`{"sub":"ana","role":"admin","iss":"bridge","aud":"bridge","exp":` + itoa(testNow.Add(time.Hour).Unix()) + `}`))
	tampered := strings.Join(parts, ".")

	tests := []struct {
		name    string
		token   string
		want    Principal
		wantErr error
	}{
		{name: "valid agent", token: good,
			want: Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "valid admin without worker", token: hs(with(baseClaims("admin"), "sub", "root", "worker_sid", nil)),
			want: Principal{Subject: "root", Role: RoleAdmin, Source: SourceJWT}},
		{name: "agent without worker_sid is accepted", token: hs(with(agent, "worker_sid", nil)),
			want: Principal{Subject: "ana", Role: RoleAgent, Source: SourceJWT}},
		{name: "aud as array", token: hs(with(agent, "aud", []string{"other", "bridge"})),
			want: Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "expired within leeway", token: hs(with(agent, "exp", testNow.Add(-10*time.Second).Unix())),
			want: Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "expired", token: hs(with(agent, "exp", testNow.Add(-time.Minute).Unix())), wantErr: ErrTokenExpired},
		{name: "not yet valid", token: hs(with(agent, "nbf", testNow.Add(time.Hour).Unix())), wantErr: jwt.ErrTokenNotValidYet},
		{name: "nbf within leeway", token: hs(with(agent, "nbf", testNow.Add(10*time.Second).Unix())),
			want: Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}},
		{name: "forged signature", token: MustSign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), agent), wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "spliced signature", token: spliced, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "tampered payload", token: tampered, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "wrong audience", token: hs(with(agent, "aud", "someone-else")), wantErr: jwt.ErrTokenInvalidAudience},
		{name: "missing audience", token: hs(with(agent, "aud", nil)), wantErr: jwt.ErrTokenRequiredClaimMissing},
		{name: "wrong issuer", token: hs(with(agent, "iss", "evil")), wantErr: jwt.ErrTokenInvalidIssuer},
		{name: "missing issuer", token: hs(with(agent, "iss", nil)), wantErr: jwt.ErrTokenRequiredClaimMissing},
		{name: "missing exp", token: hs(with(agent, "exp", nil)), wantErr: jwt.ErrTokenRequiredClaimMissing},
		{name: "alg none", token: none, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "HS384 refused", token: MustSign(t, jwt.SigningMethodHS384, testSecret, agent), wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "unknown role", token: hs(with(agent, "role", "root")), wantErr: ErrInvalidToken},
		{name: "role case matters", token: hs(with(agent, "role", "Admin")), wantErr: ErrInvalidToken},
		{name: "missing role", token: hs(with(agent, "role", nil)), wantErr: ErrInvalidToken},
		{name: "role not a string", token: hs(with(agent, "role", 1)), wantErr: ErrInvalidToken},
		{name: "missing sub", token: hs(with(agent, "sub", nil)), wantErr: ErrInvalidToken},
		{name: "malformed", token: "not.a.jwt", wantErr: jwt.ErrTokenMalformed},
		{name: "garbage", token: "garbage", wantErr: jwt.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.VerifyJWT(tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("err = %v, want it to wrap ErrInvalidToken", err)
				}
				if strings.Contains(err.Error(), tt.token) {
					t.Errorf("error text contains the token")
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func itoa(n int64) string { return big.NewInt(n).String() }

func TestVerifyJWT_Asymmetric(t *testing.T) {
	k := testKeys()
	agent := baseClaims("agent")
	rsaPub := &k.rsa.PublicKey
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, rsaPub)})
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: mustPKIX(t, &k.ec.PublicKey)})

	tests := []struct {
		name  string
		key   any // Config.PublicKey
		token string
		ok    bool
	}{
		{"RS256 valid", rsaPub, MustSign(t, jwt.SigningMethodRS256, k.rsa, agent), true},
		{"RS256 other key", rsaPub, MustSign(t, jwt.SigningMethodRS256, k.rsaOther, agent), false},
		{"RS256 expired", rsaPub, MustSign(t, jwt.SigningMethodRS256, k.rsa, with(agent, "exp", testNow.Add(-time.Hour).Unix())), false},
		{"RS256 wrong aud", rsaPub, MustSign(t, jwt.SigningMethodRS256, k.rsa, with(agent, "aud", "x")), false},
		{"PS256 refused with RSA key", rsaPub, MustSign(t, jwt.SigningMethodPS256, k.rsa, agent), false},
		{"RS512 refused with RSA key", rsaPub, MustSign(t, jwt.SigningMethodRS512, k.rsa, agent), false},
		// Key confusion: an HS256 token whose "secret" is the public key.
		{"HS256 keyed with RSA PEM", rsaPub, MustSign(t, jwt.SigningMethodHS256, rsaPEM, agent), false},
		{"HS256 keyed with RSA DER", rsaPub, MustSign(t, jwt.SigningMethodHS256, mustPKIX(t, rsaPub), agent), false},
		{"HS256 keyed with EC PEM", &k.ec.PublicKey, MustSign(t, jwt.SigningMethodHS256, ecPEM, agent), false},
		{"alg none with RSA key", rsaPub, MustSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, agent), false},
		{"ES256 valid", &k.ec.PublicKey, MustSign(t, jwt.SigningMethodES256, k.ec, agent), true},
		{"ES256 other key", &k.ec.PublicKey, MustSign(t, jwt.SigningMethodES256, k.ecOther, agent), false},
		{"RS256 refused with EC key", &k.ec.PublicKey, MustSign(t, jwt.SigningMethodRS256, k.rsa, agent), false},
		{"ES256 refused with RSA key", rsaPub, MustSign(t, jwt.SigningMethodES256, k.ec, agent), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := MustNew(t, Config{PublicKey: tt.key})
			p, err := a.VerifyJWT(tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if p.Subject != "ana" || p.Role != RoleAgent || p.WorkerSID != testWorker {
					t.Errorf("principal = %+v", p)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func mustPKIX(tb testing.TB, pub any) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func TestNewConfig(t *testing.T) {
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"secret", Config{HMACSecret: testSecret}, true},
		{"short secret is allowed (warned)", Config{HMACSecret: []byte("short")}, true},
		{"rsa", Config{PublicKey: &k.rsa.PublicKey}, true},
		{"ec", Config{PublicKey: &k.ec.PublicKey}, true},
		{"neither", Config{}, false},
		{"both", Config{HMACSecret: testSecret, PublicKey: &k.rsa.PublicKey}, false},
		{"rsa private key is not a public key", Config{PublicKey: k.rsa}, false},
		{"rsa 1024", Config{PublicKey: &small.PublicKey}, false},
		{"ec p384", Config{PublicKey: &p384.PublicKey}, false},
		{"ed25519", Config{PublicKey: edPub}, false},
		{"negative leeway", Config{HMACSecret: testSecret, Leeway: -time.Second}, false},
		{"negative cache size", Config{HMACSecret: testSecret, FlexCacheSize: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewIssuerAudience(t *testing.T) {
	a := MustNew(t, Config{HMACSecret: testSecret, Issuer: "https://sso.example", Audience: "bridge-prod", Leeway: time.Second})
	c := with(baseClaims("agent"), "iss", "https://sso.example", "aud", "bridge-prod")
	if _, err := a.VerifyJWT(MustSign(t, jwt.SigningMethodHS256, testSecret, c)); err != nil {
		t.Fatalf("configured iss/aud: %v", err)
	}
	if _, err := a.VerifyJWT(MustSign(t, jwt.SigningMethodHS256, testSecret, baseClaims("agent"))); !errors.Is(err, jwt.ErrTokenInvalidIssuer) {
		t.Fatalf("default iss against configured one: err = %v", err)
	}
	// Leeway of 1s: 10s past exp is expired.
	late := with(c, "exp", testNow.Add(-10*time.Second).Unix())
	if _, err := a.VerifyJWT(MustSign(t, jwt.SigningMethodHS256, testSecret, late)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("leeway 1s: err = %v", err)
	}
}

func TestMint(t *testing.T) {
	clk := newClock()
	a := MustNew(t, Config{HMACSecret: testSecret, Now: clk.Now})

	tok, err := Mint(testSecret, MintClaims{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, TTL: 8 * time.Hour, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.VerifyJWT(tok)
	if err != nil {
		t.Fatalf("verify minted: %v", err)
	}
	if want := (Principal{Subject: "ana", Role: RoleAgent, WorkerSID: testWorker, Source: SourceJWT}); p != want {
		t.Errorf("principal = %+v, want %+v", p, want)
	}
	clk.Add(8*time.Hour + DefaultLeeway + time.Second)
	if _, err := a.VerifyJWT(tok); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("after TTL: err = %v, want expired", err)
	}

	// Custom iss/aud are honoured.
	b := MustNew(t, Config{HMACSecret: testSecret, Issuer: "i", Audience: "a"})
	tok, err = Mint(testSecret, MintClaims{Subject: "root", Role: RoleAdmin, Issuer: "i", Audience: "a", TTL: time.Hour, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := b.VerifyJWT(tok); err != nil || p.Role != RoleAdmin {
		t.Errorf("custom iss/aud: %+v, %v", p, err)
	}
	if _, err := a.VerifyJWT(tok); err == nil {
		t.Errorf("token for aud a accepted by default authenticator")
	}

	// Now defaults to the wall clock.
	tok, err = Mint(testSecret, MintClaims{Subject: "ana", Role: RoleAgent, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	wall := MustNew(t, Config{HMACSecret: testSecret, Now: time.Now})
	if _, err := wall.VerifyJWT(tok); err != nil {
		t.Errorf("wall-clock mint: %v", err)
	}

	bad := []struct {
		name   string
		secret []byte
		c      MintClaims
	}{
		{"empty secret", nil, MintClaims{Subject: "a", Role: RoleAgent, TTL: time.Hour}},
		{"no subject", testSecret, MintClaims{Role: RoleAgent, TTL: time.Hour}},
		{"bad role", testSecret, MintClaims{Subject: "a", Role: "root", TTL: time.Hour}},
		{"no role", testSecret, MintClaims{Subject: "a", TTL: time.Hour}},
		{"zero ttl", testSecret, MintClaims{Subject: "a", Role: RoleAgent}},
		{"negative ttl", testSecret, MintClaims{Subject: "a", Role: RoleAgent, TTL: -time.Hour}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Mint(tt.secret, tt.c); err == nil {
				t.Fatal("want error")
			}
		})
	}
}

func TestParsePublicKey(t *testing.T) {
	k := testKeys()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sso"},
		NotBefore: testNow, NotAfter: testNow.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.ec.PublicKey, k.ec)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	tests := []struct {
		name string
		in   []byte
		want any
	}{
		{"pkix rsa", enc("PUBLIC KEY", mustPKIX(t, &k.rsa.PublicKey)), &k.rsa.PublicKey},
		{"pkcs1 rsa", enc("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)), &k.rsa.PublicKey},
		{"pkix ec", enc("PUBLIC KEY", mustPKIX(t, &k.ec.PublicKey)), &k.ec.PublicKey},
		{"certificate", enc("CERTIFICATE", certDER), &k.ec.PublicKey},
		{"private key refused", enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)), nil},
		{"not pem", []byte("hello"), nil},
		{"bad der", enc("PUBLIC KEY", []byte{1, 2, 3}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKey(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			type equaler interface{ Equal(x crypto.PublicKey) bool }
			if !got.(equaler).Equal(tt.want) {
				t.Errorf("key differs")
			}
			if _, err := New(Config{PublicKey: got}); err != nil {
				t.Errorf("New with parsed key: %v", err)
			}
		})
	}
}

func BenchmarkVerifyHS256(b *testing.B) {
	a := MustNew(b, Config{HMACSecret: testSecret})
	tok := MustSign(b, jwt.SigningMethodHS256, testSecret, baseClaims("agent"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.VerifyJWT(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) {
	k := testKeys()
	a := MustNew(b, Config{PublicKey: &k.rsa.PublicKey})
	tok := MustSign(b, jwt.SigningMethodRS256, k.rsa, baseClaims("agent"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.VerifyJWT(tok); err != nil {
			b.Fatal(err)
		}
	}
}
