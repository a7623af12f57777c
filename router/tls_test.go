package router

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// testPKI is a CA and certificates it signed, written as PEM files in a
// temporary directory. Keys are made by the test; none is committed.
type testPKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "shardproxy test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	k := &testPKI{dir: t.TempDir(), ca: ca, caKey: key, serial: 1}
	k.write(t, "ca.crt", "CERTIFICATE", der)
	return k
}

func (k *testPKI) path(name string) string { return filepath.Join(k.dir, name) }

func (k *testPKI) write(t *testing.T, name, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(k.path(name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes name.crt and name.key, a certificate for 127.0.0.1 and
// localhost usable by servers and clients, and returns its serial.
func (k *testPKI) issue(t *testing.T, name string) int64 {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(k.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.ca, &key.PublicKey, k.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	k.write(t, name+".crt", "CERTIFICATE", der)
	k.write(t, name+".key", "EC PRIVATE KEY", kder)
	return k.serial
}

// clientTLS is a client configuration trusting the CA, presenting the
// "client" certificate.
func (k *testPKI) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	pool, err := certPool(k.path("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(k.path("client.crt"), k.path("client.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"}
}

// TLS end to end: a go-redis client over TLS (with a client certificate)
// through the proxy to two TLS-only shards, 10,000 mixed commands;
// redis-cli --tls; a client without a certificate refused; certificates
// rotated by a reload while a client stays connected.
func TestTLSEndToEnd(t *testing.T) {
	k := newTestPKI(t)
	k.issue(t, "redis")
	k.issue(t, "client")
	firstSerial := k.issue(t, "proxy")
	var shards []*testenv.Redis
	var tlsAddrs []string
	for i := 0; i < 2; i++ {
		port := testenv.FreePort(t)
		shards = append(shards, testenv.StartRedis(t, "--tls-port", strconv.Itoa(port),
			"--tls-cert-file", k.path("redis.crt"), "--tls-key-file", k.path("redis.key"),
			"--tls-ca-cert-file", k.path("ca.crt"), "--tls-auth-clients", "yes"))
		tlsAddrs = append(tlsAddrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	pc := ringPool(t, shards, func(pc *config.Pool) {
		for i := range pc.Servers {
			pc.Servers[i].Addr = tlsAddrs[i] // only the TLS ports
		}
		pc.Timeout = 5 * time.Second
		pc.RedisTLS = true
		pc.RedisTLSCACertFile = k.path("ca.crt")
		pc.RedisTLSCertFile, pc.RedisTLSKeyFile = k.path("client.crt"), k.path("client.key")
		pc.TLSCertFile, pc.TLSKeyFile = k.path("proxy.crt"), k.path("proxy.key")
		pc.TLSCACertFile = k.path("ca.crt")
	})
	px := serveProxy(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
	p := px.Pools()[0]

	c := redis.NewClient(&redis.Options{Addr: p.Addr(), TLSConfig: k.clientTLS(t), MaxRetries: -1,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	const rounds = 100 // 100 commands each: 10,000
	for r := 0; r < rounds; r++ {
		pipe := c.Pipeline()
		var gets []*redis.StringCmd
		var mgets []*redis.SliceCmd
		for i := 0; i < 20; i++ {
			key := fmt.Sprintf("tls:%d:%d", r, i)
			pipe.Set(ctx(), key, key, 0)
			gets = append(gets, pipe.Get(ctx(), key))
			pipe.Incr(ctx(), "tls:counter")
			mgets = append(mgets, pipe.MGet(ctx(), key, fmt.Sprintf("tls:%d:%d", r, (i+1)%20), "tls:none"))
			pipe.Del(ctx(), fmt.Sprintf("tls:%d:%d", r-1, i))
		}
		if _, err := pipe.Exec(ctx()); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		for i, g := range gets {
			if g.Val() != fmt.Sprintf("tls:%d:%d", r, i) {
				t.Fatalf("round %d: GET = %q", r, g.Val())
			}
			if v := mgets[i].Val(); len(v) != 3 || v[0] != fmt.Sprintf("tls:%d:%d", r, i) || v[2] != nil {
				t.Fatalf("round %d: MGET = %q", r, v)
			}
		}
	}
	if n, err := c.Get(ctx(), "tls:counter").Int(); err != nil || n != rounds*20 {
		t.Fatalf("counter = %d, %v; want %d", n, err, rounds*20)
	}

	// CLIENT INFO of a TLS client names the socket under the TLS layer.
	info, err := c.Do(ctx(), "CLIENT", "INFO").Text()
	if _, f := clientFields(strings.TrimSpace(info)); err != nil || f["fd"] == "" || f["fd"] == "-1" || f["laddr"] != p.Addr() {
		t.Fatalf("CLIENT INFO over TLS: %q, %v", info, err)
	}

	cli := testenv.RequireBinary(t, "redis-cli")
	out, err := exec.Command(cli, "--tls", "--cacert", k.path("ca.crt"), "--cert", k.path("client.crt"), "--key", k.path("client.key"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.Port()), "GET", "tls:99:3").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "tls:99:3" {
		t.Fatalf("redis-cli --tls: %q, %v", out, err)
	}

	// No client certificate: refused (tls_auth_clients defaults to yes).
	noCert := k.clientTLS(t)
	noCert.Certificates = nil
	if conn, err := tls.Dial("tcp", p.Addr(), noCert); err == nil {
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		conn.Write([]byte("PING\r\n"))
		if _, err := conn.Read(make([]byte, 16)); err == nil {
			t.Error("a client without a certificate was served")
		}
		conn.Close()
	}

	// Rotate the proxy's certificate; a reload serves it to new clients
	// while a connected client carries on.
	held, err := tls.Dial("tcp", p.Addr(), k.clientTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if got := held.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != firstSerial {
		t.Fatalf("serial %d, want %d", got, firstSerial)
	}
	newSerial := k.issue(t, "proxy")
	if err := px.Reload(&config.Config{Pools: []*config.Pool{pc}}); err != nil {
		t.Fatal(err)
	}
	fresh, err := tls.Dial("tcp", p.Addr(), k.clientTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := fresh.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != newSerial {
		t.Errorf("after the reload a new client got serial %d, want %d", got, newSerial)
	}
	held.SetDeadline(time.Now().Add(5 * time.Second))
	held.Write([]byte("PING\r\n"))
	buf := make([]byte, 7)
	if n, err := held.Read(buf); err != nil || string(buf[:n]) != "+PONG\r\n" {
		t.Errorf("client connected before the reload: %q, %v", buf[:n], err)
	}
}

// rotateCA replaces the CA with a new one (ca.crt rewritten); certificates
// issued from now on are signed by it.
func (k *testPKI) rotateCA(t *testing.T) {
	t.Helper()
	next := newTestPKI(t)
	k.ca, k.caKey = next.ca, next.caKey
	k.write(t, "ca.crt", "CERTIFICATE", next.ca.Raw)
}

// The backend certificate files are read again on reload: the shard
// restarts with certificates of a new CA (and trusts only that CA's
// clients); until the proxy's files are rotated and reloaded, no new
// backend connection can be made, and after the reload commands work
// again, without a restart of the proxy.
func TestTLSBackendCertificatesReload(t *testing.T) {
	k := newTestPKI(t)
	k.issue(t, "redis")
	k.issue(t, "client")
	port := testenv.FreePort(t)
	shard := testenv.StartRedis(t, "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", k.path("redis.crt"), "--tls-key-file", k.path("redis.key"),
		"--tls-ca-cert-file", k.path("ca.crt"), "--tls-auth-clients", "yes")
	pc := ringPool(t, []*testenv.Redis{shard}, func(pc *config.Pool) {
		pc.Servers[0].Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		pc.Timeout = 2 * time.Second
		pc.RedisTLS = true
		pc.RedisTLSCACertFile = k.path("ca.crt")
		pc.RedisTLSCertFile, pc.RedisTLSKeyFile = k.path("client.crt"), k.path("client.key")
	})
	px := serveProxy(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
	c := redis.NewClient(&redis.Options{Addr: px.Pools()[0].Addr(), MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	if err := c.Set(ctx(), "rot", "1", 0).Err(); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	k.rotateCA(t)
	k.issue(t, "redis")
	k.issue(t, "client")
	shard.Restart() // the new CA only
	failures := 0
	for i := 0; i < 5; i++ {
		if err := c.Get(ctx(), "rot").Err(); err != nil && err != redis.Nil {
			failures++
		}
		time.Sleep(100 * time.Millisecond)
	}
	if failures != 5 {
		t.Fatalf("with the old CA in memory %d of 5 commands failed; the test's rotation did nothing", failures)
	}

	if err := px.Reload(&config.Config{Pools: []*config.Pool{pc}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Set(ctx(), "rot", "2", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the reload: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := c.Get(ctx(), "rot").Val(); v != "2" {
		t.Fatalf("GET after the reload = %q", v)
	}

	// A reload whose files do not load changes nothing.
	if err := os.WriteFile(k.path("client.crt"), []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := px.Reload(&config.Config{Pools: []*config.Pool{pc}}); err == nil ||
		!strings.Contains(err.Error(), "redis_tls_cert_file") {
		t.Fatalf("reload with a broken client certificate: %v", err)
	}
	shard.Restart()
	deadline = time.Now().Add(10 * time.Second)
	for {
		err := c.Get(ctx(), "rot").Err()
		if err == nil || err == redis.Nil { // the restarted shard is empty
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed reload broke the backend TLS credentials: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
