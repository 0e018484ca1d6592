// Package link tells whether a network interface can carry traffic: it is
// administratively up and has carrier. Ports use it for their link state.
package link

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Up reports whether interface name is up (IFF_UP) with carrier, asking
// through socket fd, so in fd's network namespace whatever the calling
// thread's. Carrier comes from ETHTOOL_GLINK, which follows the link at
// once; IFF_RUNNING, the fallback for drivers without it, follows the
// kernel's operstate, which can lag carrier by up to a second.
func Up(fd int, name string) bool {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return false
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return false
	}
	flags := ifr.Uint16()
	if flags&unix.IFF_UP == 0 {
		return false
	}
	if carrier, err := Carrier(fd, name); err == nil {
		return carrier
	}
	return flags&unix.IFF_RUNNING != 0
}

// ifreqData is struct ifreq with ifr_data set.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// Carrier returns the interface's carrier as ETHTOOL_GLINK reports it.
func Carrier(fd int, name string) (bool, error) {
	ev := &ethtoolValue{cmd: unix.ETHTOOL_GLINK}
	ifr := &ifreqData{data: unsafe.Pointer(ev)}
	copy(ifr.name[:unix.IFNAMSIZ-1], name)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
	runtime.KeepAlive(ifr)
	runtime.KeepAlive(ev)
	if errno != 0 {
		return false, errno
	}
	return ev.data != 0, nil
}
