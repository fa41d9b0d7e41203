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

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// classify turns the outcome of a manifest request into a verdict.
func classify(err error, timeout string) registryauth.Verdict {
	if err == nil {
		return registryauth.Verdict{Status: registryauth.ProbeOK, HTTPStatus: http.StatusOK}
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		vd := registryauth.Verdict{HTTPStatus: terr.StatusCode}
		for _, d := range terr.Errors {
			vd.Code = string(d.Code)
			break
		}
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
	return registryauth.Verdict{Status: registryauth.ProbeUnavailable, Reason: reason(err, timeout)}
}

// reason words a failure to get an answer, without quoting URLs or bodies.
func reason(err error, timeout string) string {
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
