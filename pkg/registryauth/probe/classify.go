package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// Reasons users see. Every failure to reach a registry reads the same, so a message does
// not tell an open port from a closed one or a TLS error from a DNS one: pods must not
// become a scanner of the networks pullguard reaches. The precise cause goes to Detail.
const (
	ReasonUnreachable = "the registry could not be reached"
	ReasonDenied      = "the registry's address is not probed (--verify-deny-networks)"
	ReasonTooLarge    = "the registry's answer was larger than a manifest can be"
)

// knownCodes are the error codes of the OCI distribution spec and those Docker's registry
// adds (go-containerregistry's list). Only these reach a verdict: a registry's code is its
// text, and its text must not reach a message.
var knownCodes = map[transport.ErrorCode]bool{}

func init() {
	for _, c := range []transport.ErrorCode{
		transport.BlobUnknownErrorCode, transport.BlobUploadInvalidErrorCode,
		transport.BlobUploadUnknownErrorCode, transport.DigestInvalidErrorCode,
		transport.ManifestBlobUnknownErrorCode, transport.ManifestInvalidErrorCode,
		transport.ManifestUnknownErrorCode, transport.ManifestUnverifiedErrorCode,
		transport.NameInvalidErrorCode, transport.NameUnknownErrorCode,
		transport.SizeInvalidErrorCode, transport.TagInvalidErrorCode,
		transport.UnauthorizedErrorCode, transport.DeniedErrorCode,
		transport.UnsupportedErrorCode, transport.TooManyRequestsErrorCode,
		transport.UnknownErrorCode, transport.UnavailableErrorCode,
	} {
		knownCodes[c] = true
	}
}

// knownCode returns the first code of the registry's errors that the spec defines, as
// pullguard spells it, or "".
func knownCode(diags []transport.Diagnostic) string {
	for _, d := range diags {
		// A known code is short: do not even compare a long one.
		if len(d.Code) <= 32 && knownCodes[d.Code] {
			return string(d.Code)
		}
	}
	return ""
}

// classify turns the outcome of a manifest request into a verdict.
func classify(err error, timeout string) registryauth.Verdict {
	if err == nil {
		return registryauth.Verdict{Status: registryauth.ProbeOK, HTTPStatus: http.StatusOK}
	}
	var denied *DeniedAddressError
	if errors.As(err, &denied) {
		return registryauth.Verdict{Status: registryauth.ProbeSkipped, Reason: ReasonDenied, Detail: denied.Error()}
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		vd := registryauth.Verdict{HTTPStatus: terr.StatusCode, Code: knownCode(terr.Errors)}
		switch {
		case vd.Code == string(transport.ManifestUnknownErrorCode) || vd.Code == string(transport.NameUnknownErrorCode):
			vd.Status = registryauth.ProbeNotFound
		case vd.Code == string(transport.DeniedErrorCode):
			vd.Status = registryauth.ProbeForbidden
		case terr.StatusCode == http.StatusUnauthorized:
			vd.Status = registryauth.ProbeUnauthorized
		case terr.StatusCode == http.StatusForbidden:
			vd.Status = registryauth.ProbeForbidden
		case terr.StatusCode == http.StatusNotFound:
			vd.Status = registryauth.ProbeNotFound
		default:
			vd.Status = registryauth.ProbeUnavailable
			vd.Reason = fmt.Sprintf("the registry answered HTTP %d", terr.StatusCode)
			if vd.Code != "" {
				vd.Reason += " " + vd.Code
			}
		}
		return vd
	}
	if isTooLarge(err) {
		return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: ReasonTooLarge, Detail: errBodyTooLarge.Error()}
	}
	return unreachable(err, timeout)
}

// unreachable is the verdict of a registry that could not be asked: one reason for users,
// the cause for the log.
func unreachable(err error, timeout string) registryauth.Verdict {
	return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: ReasonUnreachable, Detail: clean(detail(err, timeout))}
}

// detail words a failure to get an answer for pullguard's log, without quoting URLs or
// bodies.
func detail(err error, timeout string) string {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		dns       *net.DNSError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer within " + timeout
	case errors.Is(err, context.Canceled):
		return "the review ended before the registry answered"
	case errors.As(err, &unknownCA):
		return "TLS: certificate signed by an unknown authority (add its CA with --registry-ca-file)"
	case errors.As(err, &hostname):
		return "TLS: the certificate is not valid for this host"
	case errors.As(err, &invalid):
		return "TLS: the certificate is not valid (" + invalid.Error() + ")"
	case errors.As(err, &verify):
		return "TLS: the registry's certificate could not be verified"
	case errors.As(err, &record):
		return "TLS: the registry did not speak TLS"
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return "network error: " + opErr.Op + " " + opErr.Err.Error()
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return "network error: " + msg
}

// maxDetail bounds a detail: error texts can quote what a server sent (a certificate's
// names), and the log is not the place for kilobytes of it.
const maxDetail = 256

// clean drops control characters and bounds the length of text that may hold what a
// server sent.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if len(s) > maxDetail {
		cut := maxDetail
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
