package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// DefaultDenyNetworks are the networks probes never reach unless told otherwise: the
// webhook's own loopback (the node's localhost is not the webhook's anyway, so a registry
// there cannot be the one the kubelet pulls from), link-local (cloud metadata services at
// 169.254.169.254) and "this network". A pod spec must not turn pullguard into a scanner
// of what only it can reach.
const DefaultDenyNetworks = "127.0.0.0/8,::1/128,169.254.0.0/16,fe80::/10,0.0.0.0/8"

// ParseNetworks parses a comma-separated list of CIDRs ("" is none).
func ParseNetworks(list string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %w", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// MustParseNetworks is ParseNetworks for constants.
func MustParseNetworks(list string) []netip.Prefix {
	p, err := ParseNetworks(list)
	if err != nil {
		panic(err)
	}
	return p
}

// DeniedAddressError is the error of a dial to an address in a denied network.
type DeniedAddressError struct{ Addr netip.Addr }

func (e *DeniedAddressError) Error() string {
	return "address " + e.Addr.String() + " is in --verify-deny-networks"
}

// networks is a set of denied networks.
type networks []netip.Prefix

func (n networks) denies(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range n {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// control is a net.Dialer Control function: it runs on the resolved address just before
// connecting, so a name that resolves (or re-resolves) into a denied network is refused
// whatever DNS said when the reference was read.
func (n networks) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dialing %q: %w", address, errors.ErrUnsupported)
	}
	if n.denies(ap.Addr()) {
		return &DeniedAddressError{Addr: ap.Addr().Unmap().WithZone("")}
	}
	return nil
}
