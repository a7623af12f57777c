package router

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/shardproxy/shardproxy/config"
)

// serverTLS builds the TLS configuration towards clients from the pool's
// files; nil when the pool serves plain TCP.
func serverTLS(pc *config.Pool) (*tls.Config, error) {
	if pc.TLSCertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(pc.TLSCertFile, pc.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_cert_file/tls_key_file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if pc.TLSCACertFile != "" {
		if cfg.ClientCAs, err = certPool(pc.TLSCACertFile); err != nil {
			return nil, fmt.Errorf("tls_ca_cert_file: %w", err)
		}
		switch pc.TLSAuthClients {
		case "", "yes": // Redis's default
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		case "optional":
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return cfg, nil
}

// backendTLS builds the TLS configuration towards the Redis servers; nil
// when redis_tls is off.
func backendTLS(pc *config.Pool) (*tls.Config, error) {
	if !pc.RedisTLS {
		return nil, nil
	}
	return redisTLS(pc)
}

// sentinelTLS builds the TLS configuration towards the sentinels, from the
// same redis_tls_* files; nil when sentinel_tls is off.
func sentinelTLS(pc *config.Pool) (*tls.Config, error) {
	if !pc.SentinelTLS {
		return nil, nil
	}
	return redisTLS(pc)
}

// redisTLS builds a client TLS configuration from the redis_tls_* files.
func redisTLS(pc *config.Pool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: pc.RedisTLSServerName}
	var err error
	if pc.RedisTLSCACertFile != "" {
		if cfg.RootCAs, err = certPool(pc.RedisTLSCACertFile); err != nil {
			return nil, fmt.Errorf("redis_tls_ca_cert_file: %w", err)
		}
	}
	if pc.RedisTLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(pc.RedisTLSCertFile, pc.RedisTLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis_tls_cert_file/redis_tls_key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

// listenTLS wraps ln in TLS with the pool's current configuration, which
// reloadTLS replaces: a handshake uses the certificates of the moment, and
// connections already open carry on.
func (p *Pool) listenTLS(ln net.Listener) net.Listener {
	return tls.NewListener(ln, &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return p.tlsServer.Load(), nil },
	})
}

// reloadTLS reads the pool's certificate files again, towards the clients,
// the servers (new backend connections, cluster discovery) and the
// sentinels (new connections);
// connections already open carry on. When a file fails to load nothing
// changes.
func (p *Pool) reloadTLS(pc *config.Pool) error {
	var srv, back *tls.Config
	var err error
	if pc.TLSCertFile != "" {
		if srv, err = serverTLS(pc); err != nil {
			return fmt.Errorf("pool %s: %w", pc.Name, err)
		}
	}
	if back, err = backendTLS(pc); err != nil {
		return fmt.Errorf("pool %s: %w", pc.Name, err)
	}
	sent, err := sentinelTLS(pc)
	if err != nil {
		return fmt.Errorf("pool %s: %w", pc.Name, err)
	}
	if srv != nil {
		p.tlsServer.Store(srv)
	}
	if back != nil {
		p.tlsBackCur.Store(back)
	}
	if sent != nil {
		p.tlsSentinelCur.Store(sent)
	}
	return nil
}
