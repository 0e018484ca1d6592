//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package packet

// littleEndian says the machine stores words least significant byte
// first, the layout ParseHash builds a key's words in.
const littleEndian = true
