// The Go peer of bench/invoke.ts: net/http/httputil.ReverseProxy, the core of
// the OpenFaaS gateway, in front of one function container, with keep-alive
// to it over TCP or its Unix socket. Built by the bench with the system's Go.
//
//	reverse-proxy -listen 127.0.0.1:PORT -tcp 127.0.0.1:PORT
//	reverse-proxy -listen 127.0.0.1:PORT -unix /path/to/socket
package main

import (
	"context"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	tcp := flag.String("tcp", "", "host:port of the function")
	unix := flag.String("unix", "", "Unix socket of the function")
	flag.Parse()
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext: dialer.DialContext,
		// Keep-alive for every client connection: the default keeps only 2 idle per host.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	host := *tcp
	if *unix != "" {
		host = "function"
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", *unix)
		}
	} else if host == "" {
		log.Fatal("give -tcp host:port or -unix path")
	}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
	proxy.Transport = transport
	// wrk closes its connections mid-request when a run ends: not worth a line each.
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	log.Fatal(http.ListenAndServe(*listen, proxy))
}
