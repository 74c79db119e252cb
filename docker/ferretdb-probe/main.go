// ferretdb-probe: the HEALTHCHECK of the FerretDB image (FROM scratch: no shell, no client, and `ferretdb ping`
// only pings with credentials). It sends one MongoDB `ping` command in an OP_MSG to FerretDB's listening port and
// exits 0 only when the answer is a document with ok: 1. Standard library only; built static (CGO_ENABLED=0).
//
//	ferretdb-probe [host:port]   default: 127.0.0.1 and the port of $FERRETDB_LISTEN_ADDR (else 27017)
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"time"
)

const opMsg = 2013

// pingCommand encodes {ping: 1, $db: "admin"}.
func pingCommand() []byte {
	var e []byte
	e = append(e, 0x10)
	e = append(e, "ping\x00"...)
	e = binary.LittleEndian.AppendUint32(e, 1)
	e = append(e, 0x02)
	e = append(e, "$db\x00"...)
	e = binary.LittleEndian.AppendUint32(e, uint32(len("admin")+1))
	e = append(e, "admin\x00"...)
	doc := binary.LittleEndian.AppendUint32(nil, uint32(4+len(e)+1))
	doc = append(doc, e...)
	return append(doc, 0)
}

// okValue walks the top-level elements of a BSON document and returns the numeric value of "ok".
func okValue(doc []byte) (float64, error) {
	if len(doc) < 5 || int(binary.LittleEndian.Uint32(doc)) != len(doc) {
		return 0, errors.New("malformed reply document")
	}
	i := 4
	for i < len(doc)-1 {
		t := doc[i]
		i++
		end := i
		for end < len(doc) && doc[end] != 0 {
			end++
		}
		if end >= len(doc) {
			return 0, errors.New("malformed element name")
		}
		name := string(doc[i:end])
		i = end + 1
		size := 0
		switch t {
		case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
			size = 8
		case 0x02, 0x0D, 0x0E: // string, JavaScript, symbol
			if i+4 > len(doc) {
				return 0, errors.New("truncated")
			}
			size = 4 + int(binary.LittleEndian.Uint32(doc[i:]))
		case 0x03, 0x04: // document, array
			if i+4 > len(doc) {
				return 0, errors.New("truncated")
			}
			size = int(binary.LittleEndian.Uint32(doc[i:]))
		case 0x05: // binary
			if i+4 > len(doc) {
				return 0, errors.New("truncated")
			}
			size = 5 + int(binary.LittleEndian.Uint32(doc[i:]))
		case 0x07:
			size = 12
		case 0x08:
			size = 1
		case 0x0A, 0xFF, 0x7F:
			size = 0
		case 0x10:
			size = 4
		case 0x13:
			size = 16
		default:
			return 0, fmt.Errorf("unsupported BSON type 0x%02x", t)
		}
		if size < 0 || i+size > len(doc) {
			return 0, errors.New("truncated")
		}
		if name == "ok" {
			switch t {
			case 0x01:
				return math.Float64frombits(binary.LittleEndian.Uint64(doc[i:])), nil
			case 0x10:
				return float64(int32(binary.LittleEndian.Uint32(doc[i:]))), nil
			case 0x12:
				return float64(int64(binary.LittleEndian.Uint64(doc[i:]))), nil
			case 0x08:
				return float64(doc[i]), nil
			}
			return 0, fmt.Errorf("ok has BSON type 0x%02x", t)
		}
		i += size
	}
	return 0, errors.New("no ok field in the reply")
}

func probe(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	body := append([]byte{0, 0, 0, 0, 0}, pingCommand()...) // flagBits, section kind 0, the command
	msg := binary.LittleEndian.AppendUint32(nil, uint32(16+len(body)))
	msg = binary.LittleEndian.AppendUint32(msg, 1) // requestID
	msg = binary.LittleEndian.AppendUint32(msg, 0) // responseTo
	msg = binary.LittleEndian.AppendUint32(msg, opMsg)
	if _, err := conn.Write(append(msg, body...)); err != nil {
		return err
	}
	head := make([]byte, 16)
	if _, err := io.ReadFull(conn, head); err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	length := int(binary.LittleEndian.Uint32(head))
	if binary.LittleEndian.Uint32(head[12:]) != opMsg || length < 16+5+5 || length > 16<<20 {
		return errors.New("the reply is not an OP_MSG")
	}
	rest := make([]byte, length-16)
	if _, err := io.ReadFull(conn, rest); err != nil {
		return fmt.Errorf("reading the reply: %w", err)
	}
	if rest[4] != 0 {
		return errors.New("the reply has no body section")
	}
	doc := rest[5:]
	if n := int(binary.LittleEndian.Uint32(doc)); n <= len(doc) {
		doc = doc[:n]
	}
	ok, err := okValue(doc)
	if err != nil {
		return err
	}
	if ok != 1 {
		return fmt.Errorf("ping answered ok: %v", ok)
	}
	return nil
}

func main() {
	addr := "127.0.0.1:27017"
	if listen := os.Getenv("FERRETDB_LISTEN_ADDR"); listen != "" {
		if i := strings.LastIndex(listen, ":"); i >= 0 {
			addr = "127.0.0.1" + listen[i:]
		}
	}
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if err := probe(addr); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-probe: %s: %v\n", addr, err)
		os.Exit(1)
	}
	fmt.Printf("ferretdb-probe: %s answered ping ok: 1\n", addr)
}
