package decision

import "fmt"

type placeKind int

const (
	inContainer placeKind = iota
	inInitContainer
	inEphemeralContainer
	inImageVolume
	inBuild
)

// place is where an object uses an image, for messages.
type place struct {
	kind placeKind
	// name is the container or volume name; for builds, the field (spec.output.to).
	name string
}

func (p place) String() string {
	switch p.kind {
	case inInitContainer:
		return fmt.Sprintf("init container %q", p.name)
	case inEphemeralContainer:
		return fmt.Sprintf("ephemeral container %q", p.name)
	case inImageVolume:
		return fmt.Sprintf("image volume %q", p.name)
	case inBuild:
		return p.name
	default:
		return fmt.Sprintf("container %q", p.name)
	}
}
