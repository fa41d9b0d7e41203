package main

import (
	"context"
	"flag"
	"log/slog"
	"strconv"

	"k8s.io/klog/v2"
)

// verbosityHandler maps the verbosity of controller-runtime's and client-go's loggers to
// slog levels. logr's V(n) reaches slog as level -n, which slog prints as "DEBUG+3" for
// V(1): V(1) to V(4) become DEBUG, shown with --log-level=debug; V(5) and above stay below
// DEBUG and are never shown (they trace single requests).
type verbosityHandler struct{ slog.Handler }

func verbosityLevel(l slog.Level) slog.Level {
	if l > slog.LevelDebug && l < slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (h verbosityHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, verbosityLevel(l))
}

func (h verbosityHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = verbosityLevel(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h verbosityHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return verbosityHandler{h.Handler.WithAttrs(attrs)}
}

func (h verbosityHandler) WithGroup(name string) slog.Handler {
	return verbosityHandler{h.Handler.WithGroup(name)}
}

// maxKlogVerbosity is what --log-level=debug lets through of klog's own V(n) checks, which
// run before any handler: up to 4 (reflector and watch events). From 6 client-go logs
// every request, and from 8 response bodies, which hold secrets.
const maxKlogVerbosity = 4

// setKlogVerbosity lets klog's V(1) to V(4) through at debug level, and none above info.
func setKlogVerbosity(l slog.Level) {
	v := 0
	if l <= slog.LevelDebug {
		v = maxKlogVerbosity
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", strconv.Itoa(v))
}
