// Command tlogverify checks a C2SP transparency log (tlog-checkpoint signed notes
// and tlog-tiles static files) from its files alone, with verifiers written by
// others: golang.org/x/mod/sumdb/note and sumdb/tlog (the Go checksum database's
// own code), transparency-dev/formats (checkpoint parsing) and
// transparency-dev/merkle (RFC 6962 proofs). It shares no code with proofstream.
//
//	tlogverify -log DIR -vkey VKEY [-checkpoint FILE] [-old FILE]
//
// It verifies the checkpoint's signature; authenticates every tile it reads
// against the signed root (tlog.TileHashReader); checks that every entry in the
// entry bundles hashes to its leaf, with an inclusion proof per leaf verified by
// both tlog.CheckRecord and merkle's proof.VerifyInclusion; and, with -old, that
// the checkpoint extends the older one (tlog.CheckTree and
// proof.VerifyConsistency). It prints a JSON summary and exits 0, or prints why it
// rejects the log on stderr and exits 1.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8 // C2SP tiles are 256 hashes wide

func main() {
	dir := flag.String("log", "", "log directory (the tlog-tiles prefix)")
	vkey := flag.String("vkey", "", "verifier key of the log (name+hash+base64)")
	cpFile := flag.String("checkpoint", "", "checkpoint to verify (default: DIR/checkpoint)")
	oldFile := flag.String("old", "", "an older checkpoint the log must extend")
	flag.Parse()
	if *cpFile == "" {
		*cpFile = filepath.Join(*dir, "checkpoint")
	}
	summary, err := run(*dir, *vkey, *cpFile, *oldFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "REJECTED:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(summary)
	fmt.Println(string(out))
}

type summary struct {
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	Root       string `json:"root"`
	Leaves     int    `json:"leaves_verified"`
	Consistent *int64 `json:"consistent_with,omitempty"`
}

func openCheckpoint(path string, verifier note.Verifier) (*log.Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cp, _, _, err := log.ParseCheckpoint(data, verifier.Name(), verifier)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return cp, nil
}

func run(dir, vkey, cpFile, oldFile string) (*summary, error) {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	cp, err := openCheckpoint(cpFile, verifier)
	if err != nil {
		return nil, err
	}
	tree := tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Hash)}
	hashes := tlog.TileHashReader(tree, &tileReader{dir: dir})
	entries, err := readEntries(dir, tree.N)
	if err != nil {
		return nil, err
	}
	indexes := make([]int64, tree.N)
	for i := range indexes {
		indexes[i] = tlog.StoredHashIndex(0, int64(i))
	}
	leafHashes, err := hashes.ReadHashes(indexes)
	if err != nil {
		return nil, fmt.Errorf("tiles: %w", err)
	}
	for i, entry := range entries {
		leaf := tlog.RecordHash(entry)
		if leaf != leafHashes[i] {
			return nil, fmt.Errorf("entry %d does not hash to its leaf in the tiles", i)
		}
		p, err := tlog.ProveRecord(tree.N, int64(i), hashes)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof of leaf %d: %w", i, err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, int64(i), leaf); err != nil {
			return nil, fmt.Errorf("tlog: leaf %d: %w", i, err)
		}
		err = proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), cp.Size, leaf[:], slices(p), cp.Hash)
		if err != nil {
			return nil, fmt.Errorf("merkle: leaf %d: %w", i, err)
		}
	}
	out := &summary{Origin: cp.Origin, Size: cp.Size, Root: tree.Hash.String(), Leaves: len(entries)}
	if oldFile != "" {
		old, err := openCheckpoint(oldFile, verifier)
		if err != nil {
			return nil, err
		}
		if old.Size > cp.Size {
			return nil, fmt.Errorf("the log shrank from %d to %d leaves", old.Size, cp.Size)
		}
		p, err := tlog.ProveTree(tree.N, int64(old.Size), hashes)
		if err != nil {
			return nil, fmt.Errorf("consistency proof: %w", err)
		}
		if err := tlog.CheckTree(p, tree.N, tree.Hash, int64(old.Size), tlog.Hash(old.Hash)); err != nil {
			return nil, fmt.Errorf("tlog: not consistent with the checkpoint of size %d: %w", old.Size, err)
		}
		err = proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cp.Size, slices(p), old.Hash, cp.Hash)
		if err != nil {
			return nil, fmt.Errorf("merkle: not consistent with the checkpoint of size %d: %w", old.Size, err)
		}
		size := int64(old.Size)
		out.Consistent = &size
	}
	return out, nil
}

func slices(hashes []tlog.Hash) [][]byte {
	out := make([][]byte, len(hashes))
	for i := range hashes {
		out[i] = hashes[i][:]
	}
	return out
}

// tileReader serves tlog tiles from a C2SP directory: tile/<L>/<N>[.p/<W>]. A
// partial tile that is gone (the spec lets a log delete it once the full tile
// exists) is read from the full tile or a wider partial, cut to the width asked.
// Files are cached as read; TileHashReader authenticates them on every use.
type tileReader struct {
	dir   string
	cache map[tlog.Tile][]byte
}

func (r *tileReader) Height() int { return height }

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	if r.cache == nil {
		r.cache = make(map[tlog.Tile][]byte)
	}
	for i, t := range tiles {
		data, ok := r.cache[t]
		if !ok {
			var err error
			if data, err = readTile(r.dir, "tile/"+strconv.Itoa(t.L)+"/", t); err != nil {
				return nil, err
			}
			r.cache[t] = data
		}
		if len(data) < t.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %v is short", t.Path())
		}
		out[i] = data[:t.W*tlog.HashSize]
	}
	return out, nil
}

// readTile reads the file of tile t under prefix (tile/<L>/ or tile/entries/),
// falling back to the full tile and to wider partials.
func readTile(dir, prefix string, t tlog.Tile) ([]byte, error) {
	index := strings.TrimPrefix(tlog.Tile{H: height, L: 0, N: t.N, W: 1 << height}.Path(), "tile/8/0/")
	base := filepath.Join(dir, filepath.FromSlash(prefix+index))
	candidates := []string{base}
	if t.W < 1<<height {
		candidates = []string{base + ".p/" + strconv.Itoa(t.W), base}
		wider, _ := filepath.Glob(base + ".p/*")
		sort.Strings(wider)
		candidates = append(candidates, wider...)
	}
	for _, path := range candidates {
		data, err := os.ReadFile(path)
		if err == nil {
			return data, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("missing tile %s%s (width %d)", prefix, index, t.W)
}

// readEntries reads the n entries of the log from its entry bundles (uint16
// big-endian length-prefixed entries, 256 to a full bundle).
func readEntries(dir string, n int64) ([][]byte, error) {
	var entries [][]byte
	for bundle := int64(0); bundle*256 < n; bundle++ {
		width := n - bundle*256
		if width > 256 {
			width = 256
		}
		data, err := readTile(dir, "tile/entries/", tlog.Tile{H: height, N: bundle, W: int(width)})
		if err != nil {
			return nil, err
		}
		for count := int64(0); count < width; count++ {
			if len(data) < 2 {
				return nil, fmt.Errorf("entry bundle %d is short", bundle)
			}
			size := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+size {
				return nil, fmt.Errorf("entry bundle %d is truncated", bundle)
			}
			entries = append(entries, data[2:2+size])
			data = data[2+size:]
		}
	}
	return entries, nil
}
