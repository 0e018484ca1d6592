//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package packet

// littleEndian is false: ParseHash parses every frame with parseAny.
const littleEndian = false
