package pasbysim

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"
)

// Errors of the methods that act on a document (Sign, Open, Cancel, Expire,
// ResendWebhook).
var (
	ErrUnknownDocument = errors.New("pasbysim: no document with that id")
	ErrUnknownSignee   = errors.New("pasbysim: no signee with that NIN on the document")
	ErrCancelled       = errors.New("pasbysim: the document has been cancelled")
	ErrExpired         = errors.New("pasbysim: the document has expired")
	ErrCompleted       = errors.New("pasbysim: everyone has already signed the document")
	ErrAlreadySigned   = errors.New("pasbysim: the signee has already signed")
	ErrClosed          = errors.New("pasbysim: the simulator is closed")
)

type document struct {
	id       string
	version  string // of the create call
	mode     string // ModeAPI or ModeInterface
	to       []string
	title    string // file.name
	source   string // file.source
	hookHost string
	hookRef  string
	ip       string // request.ip: the creator's address
	base     string // public URL of the simulator root, for link and stamped
	iat      time.Time
	exp      time.Time
	lut      time.Time
	state    string
	signees  []*signee
	// Once completed.
	completedAt time.Time
	seal        string // the document's own signature [ours]
}

type signee struct {
	doc    *document
	flowID string
	flowAt time.Time // iat of the flow request
	nin    string
	name   string
	typ    string
	email  string
	repr   string
	title  string
	status string
	lut    time.Time
	// Once signed.
	signedAt       time.Time
	ip             string
	identification string
	signature      string
	// AutoSign schedule; zero when off.
	autoOpen, autoSign time.Time
}

func (d *document) link() string {
	if d.mode != ModeInterface {
		return ""
	}
	return d.base + PathContract + d.id
}

func (d *document) stamped() string {
	if d.state != StateCompleted {
		return ""
	}
	return d.base + PathStamped + d.id + "-stamped.pdf"
}

func (d *document) handled() bool { return d.state == StateCompleted }

func (d *document) signee(nin string) *signee {
	for _, sg := range d.signees {
		if sg.nin == nin {
			return sg
		}
	}
	return nil
}

func (d *document) snapshot() Document {
	v := Document{
		ID: d.id, Mode: d.mode, Version: d.version, State: d.state,
		Title: d.title, FileURL: d.source, Stamped: d.stamped(), Link: d.link(),
		HookHost: d.hookHost, Reference: d.hookRef,
		IAT: d.iat, EXP: d.exp, LUT: d.lut, Handled: d.handled(),
		Signees: make([]Signee, 0, len(d.signees)),
	}
	for _, sg := range d.signees {
		v.Signees = append(v.Signees, Signee{
			NIN: sg.nin, FlowID: sg.flowID, Name: sg.name, Type: sg.typ, Email: sg.email,
			Representing: sg.repr, Title: sg.title, Status: sg.status, LUT: sg.lut,
			SignedAt: sg.signedAt, IP: sg.ip, Identification: sg.identification, Signature: sg.signature,
		})
	}
	return v
}

func sortNewestFirst(docs []Document) {
	slices.SortFunc(docs, func(a, b Document) int {
		if c := b.IAT.Compare(a.IAT); c != 0 {
			return c
		}
		return compareStrings(b.ID, a.ID)
	})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// newDocInput is a validated create request.
type newDocInput struct {
	version  string
	mode     string
	title    string
	source   string
	hookHost string
	hookRef  string
	ip       string
	base     string
	signees  []signeeInput
}

type signeeInput struct {
	nin, name, typ, email, repr, title string
}

// createLocked records a new document and its signees' flow requests.
func (s *Sim) createLocked(in newDocInput, now time.Time) *document {
	now = now.Truncate(time.Second) // the API speaks unix seconds
	ttl := s.signingTTL
	if in.mode == ModeInterface {
		ttl = s.reviewTTL
	}
	d := &document{
		id:       s.newDocIDLocked(now),
		version:  in.version,
		mode:     in.mode,
		title:    in.title,
		source:   in.source,
		hookHost: in.hookHost,
		hookRef:  in.hookRef,
		ip:       in.ip,
		base:     in.base,
		iat:      now,
		exp:      now.Add(ttl),
		lut:      now,
		state:    StatePending,
	}
	for i, si := range in.signees {
		sg := &signee{
			doc: d, flowID: s.newFlowIDLocked(now), flowAt: now,
			nin: si.nin, name: si.name, typ: si.typ, email: si.email, repr: si.repr, title: si.title,
			status: StatusStale, lut: now,
		}
		if in.mode == ModeAPI {
			// A simple signing names only NINs; pasby knows who holds
			// them. [ours]
			sg.name = holderName(si.nin)
			sg.typ = "person"
			sg.repr = sg.name
		}
		if s.autoSign > 0 {
			step := time.Duration(i+1) * s.autoSign
			sg.autoOpen = now.Add(step - s.autoSign/2)
			sg.autoSign = now.Add(step)
		}
		d.to = append(d.to, si.nin)
		d.signees = append(d.signees, sg)
		s.flows[sg.flowID] = sg
	}
	s.docs[d.id] = d
	s.open[d.id] = d
	s.notifyLocked()
	return d
}

// advanceLocked applies, in time order per document, everything the clock
// says has happened to unfinished documents: AutoSign steps, then expiry at
// exp. Events happen at their due time, not when someone looked. [ours]
func (s *Sim) advanceLocked(now time.Time) {
	for _, d := range s.open {
		if s.autoSign > 0 {
			for _, sg := range d.signees {
				if d.state != StatePending {
					break
				}
				if !sg.autoOpen.IsZero() && !sg.autoOpen.After(now) && sg.autoOpen.Before(d.exp) {
					if sg.status == StatusStale {
						s.openLocked(sg, sg.autoOpen)
					}
					sg.autoOpen = time.Time{}
				}
				if !sg.autoSign.IsZero() && !sg.autoSign.After(now) && sg.autoSign.Before(d.exp) {
					if sg.status != StatusSigned {
						s.signLocked(sg, sg.autoSign, autoSignIP)
					}
					sg.autoSign = time.Time{}
				}
			}
		}
		if d.state == StatePending && !now.Before(d.exp) {
			d.state = StateExpired
			d.lut = d.exp
			delete(s.open, d.id)
			s.notifyLocked()
		}
	}
}

// autoSignIP is the address AutoSign and the sandbox actions sign from: a
// documentation address (RFC 5737), like the document's examples. [ours]
const autoSignIP = "203.0.113.10"

// checkActiveLocked returns the error for acting on d when it is final.
func checkActiveLocked(d *document) error {
	switch d.state {
	case StateCancelled:
		return ErrCancelled
	case StateExpired:
		return ErrExpired
	case StateCompleted:
		return ErrCompleted
	}
	return nil
}

// openLocked moves a stale signee to viewing: the flow was picked up (in
// the app, or on the hosted page).
func (s *Sim) openLocked(sg *signee, at time.Time) {
	if sg.status != StatusStale {
		return
	}
	at = at.Truncate(time.Second)
	sg.status = StatusViewing
	sg.lut = at
	sg.doc.lut = at
	s.notifyLocked()
}

// signLocked signs as sg (passing through viewing), completes the document
// when sg was the last one, and sends the webhook. The caller has checked
// that the document is pending and sg has not signed.
func (s *Sim) signLocked(sg *signee, at time.Time, ip string) {
	at = at.Truncate(time.Second)
	s.openLocked(sg, at)
	d := sg.doc
	sg.status = StatusSigned
	sg.lut = at
	sg.signedAt = at
	sg.ip = ip
	sg.identification = newUUIDv4()
	msg := d.id + "|" + sg.nin + "|" + strconv.FormatInt(at.Unix(), 10)
	sg.signature = base64.StdEncoding.EncodeToString(ed25519.Sign(s.signKey, []byte(msg)))
	d.lut = at
	if !slices.ContainsFunc(d.signees, func(o *signee) bool { return o.status != StatusSigned }) {
		d.state = StateCompleted
		d.completedAt = at
		seal := d.id + "|completed|" + strconv.FormatInt(at.Unix(), 10)
		d.seal = base64.StdEncoding.EncodeToString(ed25519.Sign(s.signKey, []byte(seal)))
		delete(s.open, d.id)
	}
	s.notifyLocked()
	s.sendWebhookLocked(d)
}

func (s *Sim) cancelLocked(d *document, at time.Time) {
	d.state = StateCancelled
	d.lut = at.Truncate(time.Second)
	delete(s.open, d.id)
	s.notifyLocked()
}

// notifyLocked wakes everything waiting for a change (held polling
// requests).
func (s *Sim) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// lookupLocked finds a document, for the exported methods.
func (s *Sim) lookupLocked(id string) (*document, error) {
	d := s.docs[id]
	if d == nil {
		return nil, ErrUnknownDocument
	}
	return d, nil
}

// Open marks the signee with NIN nin of document docID as viewing (the
// flow was picked up), as opening the hosted page as them does. It does
// nothing if they were already viewing or have signed.
func (s *Sim) Open(docID, nin string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	d, err := s.lookupLocked(docID)
	if err != nil {
		return err
	}
	sg := d.signee(nin)
	if sg == nil {
		return ErrUnknownSignee
	}
	if err := checkActiveLocked(d); err != nil {
		return err
	}
	s.openLocked(sg, now)
	return nil
}

// Sign signs document docID as the signee with NIN nin, as they would in
// the pasby app or on the hosted page. The signee passes through viewing;
// when they are the last one, the document completes. A webhook is sent
// either way.
func (s *Sim) Sign(docID, nin string) error {
	return s.signAs(docID, nin, autoSignIP)
}

func (s *Sim) signAs(docID, nin, ip string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	d, err := s.lookupLocked(docID)
	if err != nil {
		return err
	}
	sg := d.signee(nin)
	if sg == nil {
		return ErrUnknownSignee
	}
	if sg.status == StatusSigned {
		return ErrAlreadySigned
	}
	if err := checkActiveLocked(d); err != nil {
		return err
	}
	s.signLocked(sg, now, ip)
	return nil
}

// Cancel cancels document docID, as POST flow/cancel does.
func (s *Sim) Cancel(docID string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	d, err := s.lookupLocked(docID)
	if err != nil {
		return err
	}
	if err := checkActiveLocked(d); err != nil {
		return err
	}
	s.cancelLocked(d, now)
	return nil
}

// Expire makes document docID expire now: exp becomes the current time.
func (s *Sim) Expire(docID string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(now)
	d, err := s.lookupLocked(docID)
	if err != nil {
		return err
	}
	if err := checkActiveLocked(d); err != nil {
		return err
	}
	d.exp = now.Truncate(time.Second)
	if d.exp.Before(d.iat) {
		d.exp = d.iat
	}
	s.advanceLocked(now)
	return nil
}

// ResendWebhook sends document docID's webhook again, with its current
// state, whatever its state.
func (s *Sim) ResendWebhook(docID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(s.now())
	d, err := s.lookupLocked(docID)
	if err != nil {
		return err
	}
	if s.closed {
		return ErrClosed
	}
	s.sendWebhookLocked(d)
	return nil
}

// --- ids ---

// uuidEpoch is the UUID v1 epoch, 1582-10-15, in 100 ns intervals before
// the Unix epoch.
const uuidEpoch = 0x01B21DD213814000

// newDocIDLocked returns "doc_" and a UUID v1 of now: 40 characters, as
// NOTES.md describes pasby's document ids. The clock sequence and node are
// random (the node with the multicast bit set, as RFC 9562 asks of a random
// node).
func (s *Sim) newDocIDLocked(now time.Time) string {
	for {
		ts := uint64(now.UnixNano()/100) + uuidEpoch
		var b [16]byte
		binary.BigEndian.PutUint32(b[0:4], uint32(ts))
		binary.BigEndian.PutUint16(b[4:6], uint16(ts>>32))
		binary.BigEndian.PutUint16(b[6:8], uint16(ts>>48)&0x0fff|0x1000)
		_, _ = rand.Read(b[8:])
		b[8] = b[8]&0x3f | 0x80
		b[10] |= 0x01
		id := "doc_" + formatUUID(b)
		if _, dup := s.docs[id]; !dup {
			return id
		}
	}
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newFlowIDLocked returns "req_<unix seconds>-<4 alphanumerics>" (NOTES.md),
// unique among the simulator's flows.
func (s *Sim) newFlowIDLocked(now time.Time) string {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		suffix := make([]byte, 4)
		for i, c := range b {
			suffix[i] = alphanumerics[int(c)%len(alphanumerics)]
		}
		id := "req_" + strconv.FormatInt(now.Unix(), 10) + "-" + string(suffix)
		if _, dup := s.flows[id]; !dup {
			return id
		}
	}
}

func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newUUIDv4 returns a random UUID: a signature's identification, shaped
// like the document's "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee". [ours]
func newUUIDv4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// --- the fake NIN directory ---

var (
	firstNames = []string{"Adaeze", "Babajide", "Chiamaka", "Danjuma", "Efe", "Folake", "Garba", "Halima", "Ifeanyi", "Jumoke", "Kelechi", "Lola", "Musa", "Ngozi", "Oluwaseun", "Tunde"}
	lastNames  = []string{"Adeyemi", "Bello", "Chukwu", "Danladi", "Eze", "Fashola", "Ibrahim", "Nwosu", "Okafor", "Okonkwo", "Olawale", "Usman"}
)

// holderName is the name the sandbox's pasby "knows" for a NIN: stable,
// made up, and never containing the NIN itself. [ours]
func holderName(nin string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(nin))
	n := h.Sum32()
	return firstNames[n%uint32(len(firstNames))] + " " + lastNames[(n/uint32(len(firstNames)))%uint32(len(lastNames))]
}
