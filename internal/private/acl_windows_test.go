//go:build windows

package private

import (
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// These tests give openTo access lists written in SDDL and held in memory
// only, never on a file: so they run the same on Windows and under Wine,
// whose advapi32 parses and reads security descriptors as Windows does but
// whose file system keeps no access lists (see private_test.go).

// user and other are made-up accounts of one made-up domain: the SID
// openTo is told is the current user's, and somebody else's.
const (
	user  = "S-1-5-21-1111111111-2222222222-3333333333-1001"
	other = "S-1-5-21-1111111111-2222222222-3333333333-1002"
)

func sid(t *testing.T, s string) *windows.SID {
	t.Helper()
	sid, err := windows.StringToSid(s)
	if err != nil {
		t.Fatalf("StringToSid(%s): %v", s, err)
	}
	return sid
}

// parse reads sddl, the security descriptor definition language of
// Windows, into a security descriptor held in memory.
func parse(t *testing.T, sddl string) *windows.SECURITY_DESCRIPTOR {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatalf("SecurityDescriptorFromString(%s): %v", sddl, err)
	}
	return sd
}

// withDACL is a security descriptor whose access list is dacl: nil for a
// NULL list, which Windows reads as open to everyone.
func withDACL(t *testing.T, dacl *windows.ACL) *windows.SECURITY_DESCRIPTOR {
	t.Helper()
	sd, err := windows.NewSecurityDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.SetDACL(dacl, true, false); err != nil {
		t.Fatal(err)
	}
	return sd
}

// edit parses sddl and hands its i-th entry to change.
func edit(t *testing.T, sddl string, i uint32, change func(*windows.ACCESS_ALLOWED_ACE)) *windows.SECURITY_DESCRIPTOR {
	t.Helper()
	sd := parse(t, sddl)
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	var ace *windows.ACCESS_ALLOWED_ACE
	if err := windows.GetAce(dacl, i, &ace); err != nil {
		t.Fatal(err)
	}
	change(ace)
	return sd
}

// objectEntry is an access list of one ACCESS_ALLOWED_OBJECT_ACE, as
// winnt.h lays it out, granting full control to sid with no object type:
// built by hand, as Wine 8.0's SDDL parser refuses object entries.
func objectEntry(t *testing.T, sid *windows.SID) *windows.ACL {
	t.Helper()
	const (
		aclRevisionDS        = 4 // ACL_REVISION_DS, which object entries need
		accessAllowedObjects = 5 // ACCESS_ALLOWED_OBJECT_ACE_TYPE
	)
	n := int(windows.GetLengthSid(sid))
	aceSize := 4 + 4 + 4 + n // header, mask, flags (no object types), SID
	size := 8 + aceSize
	words := make([]uint32, (size+3)/4) // an ACL is 4-byte aligned
	b := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), size)
	b[0] = aclRevisionDS
	binary.LittleEndian.PutUint16(b[2:], uint16(size))
	binary.LittleEndian.PutUint16(b[4:], 1) // one entry
	b[8] = accessAllowedObjects
	binary.LittleEndian.PutUint16(b[10:], uint16(aceSize))
	binary.LittleEndian.PutUint32(b[12:], 0x1f01ff) // FILE_ALL_ACCESS
	copy(b[20:], unsafe.Slice((*byte)(unsafe.Pointer(sid)), n))
	return (*windows.ACL)(unsafe.Pointer(&words[0]))
}

// Each access list, as Windows could give a file, is private or open to
// someone, who is named as Windows names them.
func TestAccessListDecision(t *testing.T) {
	for _, c := range []struct {
		name string
		sd   func(t *testing.T) *windows.SECURITY_DESCRIPTOR
		who  string // "" for private
	}{
		{"owner only", sddl("D:P(A;;FA;;;" + user + ")(A;;FA;;;SY)(A;;FA;;;BA)"), ""},
		{"owner only, inherited", sddl("D:AI(A;ID;FA;;;" + user + ")(A;ID;FA;;;SY)(A;ID;FA;;;BA)"), ""},
		{"Everyone", sddl("D:(A;;FA;;;" + user + ")(A;;FR;;;WD)"), "open to Everyone"},
		{"Authenticated Users", sddl("D:(A;;FA;;;" + user + ")(A;;FR;;;AU)"), `open to NT AUTHORITY\Authenticated Users`},
		{"BUILTIN Users", sddl("D:(A;;FA;;;" + user + ")(A;;0x1200a9;;;BU)"), `open to BUILTIN\Users`},
		{"another user", sddl("D:(A;;FA;;;" + user + ")(A;;FA;;;" + other + ")"), "open to " + other},
		{"first open entry is named", sddl("D:(A;;FA;;;SY)(A;;FR;;;BU)(A;;FR;;;WD)"), `open to BUILTIN\Users`},
		// Built, not parsed: Wine 8.0 reads D:NO_ACCESS_CONTROL as an
		// empty list rather than a NULL one.
		{"NULL list", func(t *testing.T) *windows.SECURITY_DESCRIPTOR { return withDACL(t, nil) }, "without an access list, open to everyone"},
		{"no list at all", sddl("O:" + user), "without an access list, open to everyone"},
		{"empty list", sddl("D:"), ""},
		{"deny Everyone, allow the owner", sddl("D:(D;;FA;;;WD)(A;;FA;;;" + user + ")"), ""},
		{"deny another user", sddl("D:(D;;FA;;;" + other + ")(A;;FA;;;" + user + ")(A;;FA;;;SY)"), ""},
		{"CREATOR OWNER's inheritable entry", sddl("D:P(A;OICI;FA;;;" + user + ")(A;OICIIO;FA;;;CO)(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"), ""},
		// SDDL cannot write an entry that allows nothing: it is made one
		// that reads, then its mask cleared.
		{"allow nothing to Everyone", func(t *testing.T) *windows.SECURITY_DESCRIPTOR {
			return edit(t, "D:(A;;FA;;;"+user+")(A;;FR;;;WD)", 1, func(a *windows.ACCESS_ALLOWED_ACE) { a.Mask = 0 })
		}, ""},
		{"object entry, even for the owner", func(t *testing.T) *windows.SECURITY_DESCRIPTOR {
			return withDACL(t, objectEntry(t, sid(t, user)))
		}, "open through an access entry of type 5"},
		// ACCESS_ALLOWED_CALLBACK_ACE is laid out as ACCESS_ALLOWED_ACE,
		// with no application data here.
		{"callback entry, even for the owner", func(t *testing.T) *windows.SECURITY_DESCRIPTOR {
			return edit(t, "D:(A;;FA;;;"+user+")", 0, func(a *windows.ACCESS_ALLOWED_ACE) { a.Header.AceType = 9 })
		}, "open through an access entry of type 9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sd := c.sd(t)
			who, err := openTo(sd, sid(t, user))
			if err != nil {
				t.Fatalf("openTo(%s): %v", sd, err)
			}
			if who != c.who {
				t.Fatalf("openTo(%s) = %q, want %q", sd, who, c.who)
			}
		})
	}
}

func sddl(s string) func(t *testing.T) *windows.SECURITY_DESCRIPTOR {
	return func(t *testing.T) *windows.SECURITY_DESCRIPTOR { return parse(t, s) }
}

// The same list is private to its owner and open to anyone else who
// would check it: openTo decides for the user it is given.
func TestAccessListDecisionIsTheUsers(t *testing.T) {
	sd := parse(t, "D:P(A;;FA;;;"+user+")(A;;FA;;;SY)(A;;FA;;;BA)")
	if who, err := openTo(sd, sid(t, user)); err != nil || who != "" {
		t.Fatalf("for its owner: openTo = %q, %v; want private", who, err)
	}
	if who, err := openTo(sd, sid(t, other)); err != nil || who != "open to "+user {
		t.Fatalf("for another user: openTo = %q, %v; want open to %s", who, err, user)
	}
}

// The list Restrict gives a file or directory is private by openTo's own
// decision, protected from its parent's, and, for a directory only,
// inherited by what is created in it. Restrict applies exactly this list
// and protection; only a file system's keeping of them is not tested here.
func TestRestrictBuildsAPrivateProtectedList(t *testing.T) {
	for _, c := range []struct {
		name  string
		dir   bool
		flags string // the inheritance flags of every entry, in SDDL
	}{
		{"file", false, ""},
		{"directory", true, "OICI"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sd, err := restricted(sid(t, user), c.dir)
			if err != nil {
				t.Fatalf("restricted: %v", err)
			}
			if who, err := openTo(sd, sid(t, user)); err != nil || who != "" {
				t.Fatalf("openTo(%s) = %q, %v; want private", sd, who, err)
			}
			// For somebody else it is not: the list does not pass
			// because it lets in nobody at all.
			if who, err := openTo(sd, sid(t, other)); err != nil || who != "open to "+user {
				t.Fatalf("openTo(%s) for another user = %q, %v; want open to %s", sd, who, err, user)
			}
			control, _, err := sd.Control()
			if err != nil {
				t.Fatal(err)
			}
			if control&windows.SE_DACL_PROTECTED == 0 {
				t.Fatalf("%s: not protected (control %#x): the parent's entries would be inherited", sd, control)
			}
			// "P" is SDDL's protected; every entry grants full control.
			want := "D:P(A;" + c.flags + ";GA;;;" + user + ")(A;" + c.flags + ";GA;;;SY)(A;" + c.flags + ";GA;;;BA)"
			if got := sd.String(); !strings.HasSuffix(got, want) {
				t.Fatalf("restricted(dir=%v) = %s, want %s", c.dir, got, want)
			}
		})
	}
}

// For the user this process runs as, the list Restrict builds is private.
func TestRestrictBuildsAListPrivateToTheCurrentUser(t *testing.T) {
	me, err := currentUser()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []bool{false, true} {
		sd, err := restricted(me, dir)
		if err != nil {
			t.Fatalf("restricted(dir=%v): %v", dir, err)
		}
		if who, err := openTo(sd, me); err != nil || who != "" {
			t.Fatalf("openTo(%s) = %q, %v; want private", sd, who, err)
		}
	}
}
