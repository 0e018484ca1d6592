package tap

import (
	"net"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dvs-project/dvs/internal/datapath/link"
)

// The netdev is configured with interface ioctls on a socket made in the
// tap's namespace: they act in the socket's namespace whatever thread runs
// them, which netlink through a shared handle would not guarantee.

func ifFlags(ctl int, name string) (uint16, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFFLAGS, ifr); err != nil {
		return 0, err
	}
	return ifr.Uint16(), nil
}

func setFlags(ctl int, name string, set, clear uint16) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16()&^clear | set)
	return unix.IoctlIfreq(ctl, unix.SIOCSIFFLAGS, ifr)
}

func setUp(ctl int, name string) error { return setFlags(ctl, name, unix.IFF_UP, 0) }

func setMTU(ctl int, name string, mtu int) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	return unix.IoctlIfreq(ctl, unix.SIOCSIFMTU, ifr)
}

// ifreqHWAddr is struct ifreq with the ifr_hwaddr member of its union.
type ifreqHWAddr struct {
	name   [unix.IFNAMSIZ]byte
	family uint16
	data   [14]byte
	_      [8]byte
}

func setMAC(ctl int, name string, mac net.HardwareAddr) error {
	var ifr ifreqHWAddr
	copy(ifr.name[:], name)
	ifr.family = unix.ARPHRD_ETHER
	copy(ifr.data[:], mac)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ctl), unix.SIOCSIFHWADDR, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return errno
	}
	return nil
}

// tunGetDevNetNS is TUNGETDEVNETNS (linux/if_tun.h, _IO('T', 227)): it
// returns a descriptor of the network namespace the tap's netdev is in.
const tunGetDevNetNS = 0x54e3

// upInDevNetns reads the link state of the tap's netdev in the namespace it
// lives in, which may not be the caller's.
func upInDevNetns(tunFD int, name string) (bool, error) {
	nsfd, err := unix.IoctlRetInt(tunFD, tunGetDevNetNS)
	if err != nil {
		return false, err
	}
	defer unix.Close(nsfd)
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return false, err
	}
	defer unix.Close(orig)
	if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return false, err
	}
	sock, serr := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the other namespace: leave it locked so
		// the runtime retires it with this goroutine.
		if serr == nil {
			unix.Close(sock)
		}
		return false, err
	}
	runtime.UnlockOSThread()
	if serr != nil {
		return false, serr
	}
	defer unix.Close(sock)
	return link.Up(sock, name), nil
}
