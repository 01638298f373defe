// eserveless Go runtime: the fixed half of the main package that eserveless
// adds to a Go project. The other half, functions_gen.go, is generated for
// each build: it imports the project's root package and fills `functions`
// with the values named in .eserveless.yaml. Which one runs is chosen when
// the container starts (ESERVELESS_FUNCTION), so one image serves them all.
// ESERVELESS_FUNCTION_TYPE=cron-check checks that the function is one a cron
// run can call, without calling it: silent exit 0, or exit 1 with the reason.
//
// This file is compiled as part of the project's module, whose go.mod may
// declare an old language version (`go 1.14`): it uses no syntax newer than
// Go 1.0 (no generics, no `any`) and no library newer than Go 1.19.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	// The final image has no /usr/share/zoneinfo: embed the time zones
	// (about 450 KB) so that time.LoadLocation works.
	_ "time/tzdata"
)

// functions maps each function name of .eserveless.yaml to the project's
// value of that name, whatever its type; functions_gen.go fills it.
var functions map[string]interface{}

// probeHeader marks the router's readiness probe, answered here without
// calling the function. The router strips it from callers' requests.
const probeHeader = "X-Eserveless-Probe"

// shutdownGrace bounds how long in-flight requests may take after SIGTERM.
const shutdownGrace = 25 * time.Second

// cronFunc is what every supported cron signature is adapted to.
type cronFunc func(ctx context.Context, env map[string]string) error

const httpSignatures = "func(w http.ResponseWriter, r *http.Request), func(w http.ResponseWriter, r *http.Request) error, http.HandlerFunc or an http.Handler"

const cronSignatures = "func(envs interface{}), func(envs map[string]string), func(ctx context.Context), func(ctx context.Context, envs map[string]string) or func() — each may also return an error"

func main() {
	exportSecretFiles("/run/secrets")
	name := os.Getenv("ESERVELESS_FUNCTION")
	kind := os.Getenv("ESERVELESS_FUNCTION_TYPE")
	if kind == "" {
		kind = "http"
	}
	if name == "" {
		fail("ESERVELESS_FUNCTION is not set")
	}
	value, ok := functions[name]
	if !ok {
		fail(fmt.Sprintf("%s is not one of the functions built into this image (%s)", name, strings.Join(functionNames(), ", ")))
	}
	switch kind {
	case "http":
		handler, err := httpHandler(name, value)
		if err != nil {
			fail(err.Error())
		}
		checkCronFunctions(os.Getenv("ESERVELESS_CHECK_CRON"))
		os.Exit(serve(name, handler))
	case "cron":
		run, err := cronRunner(name, value)
		if err != nil {
			fail(err.Error())
		}
		os.Exit(runOnce(name, run))
	case "cron-check":
		// The deployment's check: what a cron run does up to the call, and no call.
		if _, err := cronRunner(name, value); err != nil {
			fail(err.Error())
		}
		os.Exit(0)
	default:
		fail(fmt.Sprintf("ESERVELESS_FUNCTION_TYPE is %q; it must be http, cron or cron-check", kind))
	}
}

// exportSecretFiles sets a variable for each file of dir, named after it,
// its content as read: on a swarm, a function's secrets are Docker secrets
// mounted there, never in the service spec. Names that are not variable
// names are refused; nothing happens when dir does not exist. It runs first
// in main: package-level initialisers and init functions, which Go runs
// before main, do not see the secrets yet (read them in the handler).
func exportSecretFiles(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		fail(fmt.Sprintf("cannot read %s: %v", dir, err))
	}
	for _, entry := range entries {
		name := entry.Name()
		if !isVariableName(name) {
			fmt.Fprintf(os.Stderr, "eserveless: %s/%s is not exported: its name is not an environment variable name\n", dir, name)
			continue
		}
		info, err := os.Stat(dir + "/" + name)
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		value, err := os.ReadFile(dir + "/" + name)
		if err != nil {
			fail(fmt.Sprintf("cannot read %s/%s: %v", dir, name, err))
		}
		if err := os.Setenv(name, string(value)); err != nil {
			fail(fmt.Sprintf("cannot export %s: %v", name, err))
		}
	}
}

// isVariableName tells whether name can be an environment variable's: a
// letter or underscore, then letters, digits and underscores.
func isVariableName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		letter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkCronFunctions fails like a cron run would for each named function that
// no cron run can call: a deployment's http container checks them this way,
// sparing a container per check.
func checkCronFunctions(names string) {
	for _, cronName := range strings.Split(names, ",") {
		if cronName == "" {
			continue
		}
		value, ok := functions[cronName]
		if !ok {
			fail(fmt.Sprintf("%s is not one of the functions built into this image (%s)", cronName, strings.Join(functionNames(), ", ")))
		}
		if _, err := cronRunner(cronName, value); err != nil {
			fail(err.Error())
		}
	}
}

func fail(message string) {
	fmt.Fprintf(os.Stderr, "eserveless: %s\n", message)
	os.Exit(1)
}

func logf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "eserveless: "+format+"\n", args...)
}

func functionNames() []string {
	names := make([]string, 0, len(functions))
	for name := range functions {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// isNil tells a nil function (an unset `var API http.HandlerFunc`) apart.
func isNil(value interface{}) bool {
	v := reflect.ValueOf(value)
	if !v.IsValid() {
		return true
	}
	switch v.Kind() {
	case reflect.Func, reflect.Ptr, reflect.Map, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// convert turns a value of a named function type (`type Job func(interface{})`)
// into the unnamed type `to` when their signatures are the same.
func convert(value interface{}, to reflect.Type) (interface{}, bool) {
	v := reflect.ValueOf(value)
	if !v.IsValid() || v.Kind() != reflect.Func || v.Type() == to || !v.Type().ConvertibleTo(to) {
		return nil, false
	}
	return v.Convert(to).Interface(), true
}

// hasSignature tells whether value is a function of one of the prototypes' signatures.
func hasSignature(value interface{}, prototypes ...interface{}) bool {
	v := reflect.ValueOf(value)
	if !v.IsValid() || v.Kind() != reflect.Func {
		return false
	}
	for _, prototype := range prototypes {
		if v.Type().ConvertibleTo(reflect.TypeOf(prototype)) {
			return true
		}
	}
	return false
}

var httpPrototypes = []interface{}{
	(func(http.ResponseWriter, *http.Request))(nil),
	(func(http.ResponseWriter, *http.Request) error)(nil),
}

// httpHandler adapts the value of an http function, or says why it cannot.
func httpHandler(name string, value interface{}) (http.Handler, error) {
	if isNil(value) {
		return nil, fmt.Errorf("%s is a nil %T: assign it a function", name, value)
	}
	for _, prototype := range httpPrototypes {
		if converted, ok := convert(value, reflect.TypeOf(prototype)); ok {
			value = converted
			break
		}
	}
	switch f := value.(type) {
	case func(http.ResponseWriter, *http.Request):
		return http.HandlerFunc(f), nil
	case http.HandlerFunc:
		return f, nil
	case func(http.ResponseWriter, *http.Request) error:
		return errorHandler(name, f), nil
	case http.Handler:
		return f, nil
	}
	hint := ""
	if hasSignature(value, cronPrototypes...) {
		hint = " That is a cron function's signature: should its type in .eserveless.yaml be cron?"
	}
	return nil, fmt.Errorf("%s is a %T, which eserveless cannot serve as an http function: it must be a %s.%s", name, value, httpSignatures, hint)
}

var cronPrototypes = []interface{}{
	(func())(nil),
	(func() error)(nil),
	(func(interface{}))(nil),
	(func(interface{}) error)(nil),
	(func(map[string]string))(nil),
	(func(map[string]string) error)(nil),
	(func(context.Context))(nil),
	(func(context.Context) error)(nil),
	(func(context.Context, map[string]string))(nil),
	(func(context.Context, map[string]string) error)(nil),
}

// cronRunner adapts the value of a cron function, or says why it cannot.
func cronRunner(name string, value interface{}) (cronFunc, error) {
	if isNil(value) {
		return nil, fmt.Errorf("%s is a nil %T: assign it a function", name, value)
	}
	for _, prototype := range cronPrototypes {
		if converted, ok := convert(value, reflect.TypeOf(prototype)); ok {
			value = converted
			break
		}
	}
	switch f := value.(type) {
	case func():
		return func(context.Context, map[string]string) error { f(); return nil }, nil
	case func() error:
		return func(context.Context, map[string]string) error { return f() }, nil
	case func(interface{}):
		return func(_ context.Context, env map[string]string) error { f(env); return nil }, nil
	case func(interface{}) error:
		return func(_ context.Context, env map[string]string) error { return f(env) }, nil
	case func(map[string]string):
		return func(_ context.Context, env map[string]string) error { f(env); return nil }, nil
	case func(map[string]string) error:
		return func(_ context.Context, env map[string]string) error { return f(env) }, nil
	case func(context.Context):
		return func(ctx context.Context, _ map[string]string) error { f(ctx); return nil }, nil
	case func(context.Context) error:
		return func(ctx context.Context, _ map[string]string) error { return f(ctx) }, nil
	case func(context.Context, map[string]string):
		return func(ctx context.Context, env map[string]string) error { f(ctx, env); return nil }, nil
	case func(context.Context, map[string]string) error:
		return func(ctx context.Context, env map[string]string) error { return f(ctx, env) }, nil
	}
	hint := ""
	if _, isHandler := value.(http.Handler); isHandler || hasSignature(value, httpPrototypes...) {
		hint = " That is an http function's signature: should its type in .eserveless.yaml be http?"
	}
	return nil, fmt.Errorf("%s is a %T, which eserveless cannot run as a cron function: it must be a %s.%s", name, value, cronSignatures, hint)
}

// metaEnvironment is every ESERVELESS_* variable: the function's meta and
// eserveless's own settings.
func metaEnvironment() map[string]string {
	env := make(map[string]string)
	for _, entry := range os.Environ() {
		if !strings.HasPrefix(entry, "ESERVELESS_") {
			continue
		}
		if i := strings.IndexByte(entry, '='); i > 0 {
			env[entry[:i]] = entry[i+1:]
		}
	}
	return env
}

type panicError struct {
	value interface{}
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n\n%s", p.value, p.stack) }

func callCron(run cronFunc, ctx context.Context, env map[string]string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return run(ctx, env)
}

// runOnce calls a cron function once; the exit code says how it went: 0 done,
// 1 it returned an error, 2 it panicked.
func runOnce(name string, run cronFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	started := time.Now()
	err := callCron(run, ctx, metaEnvironment())
	elapsed := time.Since(started).Round(time.Millisecond)
	if p, ok := err.(*panicError); ok {
		logf("%s panicked after %s: %v", name, elapsed, p)
		return 2
	}
	if err != nil {
		logf("%s failed after %s: %v", name, elapsed, err)
		return 1
	}
	fmt.Printf("eserveless: %s finished in %s\n", name, elapsed)
	return 0
}

// trackingWriter remembers whether the response was started, so that a
// failing handler gets a 500 only when nothing was sent yet. It keeps the
// optional interfaces that streaming code looks for.
type trackingWriter struct {
	http.ResponseWriter
	started bool
}

func (t *trackingWriter) WriteHeader(status int) {
	t.started = true
	t.ResponseWriter.WriteHeader(status)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.started = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		t.started = true
		f.Flush()
	}
}

func (t *trackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := t.ResponseWriter.(http.Hijacker); ok {
		t.started = true
		return h.Hijack()
	}
	return nil, nil, errors.New("the connection cannot be hijacked")
}

// Unwrap lets http.ResponseController (Go 1.20+) reach the real writer.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

func internalError(w http.ResponseWriter) {
	if t, ok := w.(*trackingWriter); ok && t.started {
		return
	}
	http.Error(w, "Internal Server Error", http.StatusInternalServerError)
}

func errorHandler(name string, f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			logf("%s %s %s: %v", name, r.Method, r.URL.RequestURI(), err)
			internalError(w)
		}
	})
}

// guard answers the readiness probe and turns a panic into a 500.
func guard(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(probeHeader) != "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		tracked := &trackingWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logf("%s panicked on %s %s: %v\n%s", name, r.Method, r.URL.RequestURI(), p, debug.Stack())
				internalError(tracked)
			}
		}()
		next.ServeHTTP(tracked, r)
	})
}

// listen opens where the router reaches this function: the Unix socket that
// ESERVELESS_SOCKET names (in a folder mounted into this container alone,
// nothing published), else PORT.
func listen() (net.Listener, string, error) {
	if path := os.Getenv("ESERVELESS_SOCKET"); path != "" {
		// The router runs as another user than this container's and needs
		// write access to connect. The socket is made so at once: a chmod
		// after it could come too late, as the router takes the folder from
		// this container as soon as the socket appears.
		umask := syscall.Umask(0)
		listener, err := net.Listen("unix", path)
		syscall.Umask(umask)
		return listener, path, err
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	listener, err := net.Listen("tcp", ":"+port)
	return listener, port, err
}

// serve answers HTTP on ESERVELESS_SOCKET or PORT until SIGTERM, then lets
// in-flight requests finish and returns the exit code.
func serve(name string, handler http.Handler) int {
	server := &http.Server{Handler: guard(name, handler), ReadHeaderTimeout: 30 * time.Second}
	listener, where, err := listen()
	if err != nil {
		logf("cannot listen on %s: %v", where, err)
		return 1
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	logf("%s listening on %s", name, where)
	select {
	case err := <-served:
		logf("the server stopped: %v", err)
		return 1
	case sig := <-stop:
		logf("%s: finishing in-flight requests", sig)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := server.Shutdown(ctx); err != nil {
			logf("requests still running after %s: %v", shutdownGrace, err)
			return 1
		}
		return 0
	}
}
