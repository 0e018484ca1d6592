package tap

import "fmt"

// CreateInternal makes an internal port: a tap whose netdev belongs to the
// host, which addresses it and routes through it into the switch, as with an
// Open vSwitch internal port. The switch holds the file side, so the device
// lives exactly as long as the port (it is never persistent nor attached),
// and it is brought up so the host can use it at once. Address it with the
// usual tools (`ip addr add ... dev name`); opts sets MTU, MAC, queues and
// offloads as for Create.
func CreateInternal(name string, opts Options) (*Port, error) {
	if opts.Persist || opts.Attach || opts.Down {
		return nil, fmt.Errorf("creating internal port %q: Persist, Attach and Down do not apply to internal ports", name)
	}
	return Create(name, opts)
}
