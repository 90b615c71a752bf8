//go:build windows

package private

import (
	"errors"
	"fmt"
	"io/fs"
	"unsafe"

	"golang.org/x/sys/windows"
)

// trusted are the accounts an owner-only file may grant access to besides
// the current user: SYSTEM and the Administrators, who can take ownership
// of any file (as root can read any file on Unix), and CREATOR OWNER, whose
// inheritable entry on a directory grants only whoever creates a file in
// it. %LOCALAPPDATA%, where the cache dir lives by default, grants exactly
// these.
var trusted = []windows.WELL_KNOWN_SID_TYPE{
	windows.WinLocalSystemSid,
	windows.WinBuiltinAdministratorsSid,
	windows.WinCreatorOwnerSid,
}

func currentUser() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("reading the current user: %w", err)
	}
	return u.User.Sid, nil
}

// check reads path's access list and asks openTo who it lets in.
func check(path string, fi fs.FileInfo) (*Exposure, error) {
	user, err := currentUser()
	if err != nil {
		return nil, err
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return nil, fmt.Errorf("reading the access list of %s: %w", path, err)
	}
	who, err := openTo(sd, user)
	if err != nil {
		return nil, fmt.Errorf("reading the access list of %s: %w", path, err)
	}
	if who == "" {
		return nil, nil
	}
	return &Exposure{Who: who, Fix: fixFor(path, fi.IsDir())}, nil
}

// openTo decides from sd's access list whom, besides user, it lets in:
// "" if every entry that allows access is for user or a trusted account,
// else the first other, worded as Exposure.Who. A missing (NULL) list lets
// everyone in. It reads sd alone, never a file, so that the decision can
// be tested on lists no file system has to keep.
func openTo(sd *windows.SECURITY_DESCRIPTOR, user *windows.SID) (string, error) {
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || (err == nil && dacl == nil) {
		return "without an access list, open to everyone", nil
	}
	if err != nil {
		return "", err
	}
	others, err := trustedSIDs(user)
	if err != nil {
		return "", err
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return "", err
		}
		switch {
		case ace.Header.AceType == windows.ACCESS_DENIED_ACE_TYPE:
			continue // a deny entry takes nothing away from privacy
		case ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE:
			// Object and callback entries are not made for files: rather
			// than guess what one grants, count it as open.
			return fmt.Sprintf("open through an access entry of type %d", ace.Header.AceType), nil
		case ace.Mask == 0:
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if isOneOf(sid, others) {
			continue
		}
		return "open to " + nameOf(sid), nil
	}
	return "", nil
}

func trustedSIDs(user *windows.SID) ([]*windows.SID, error) {
	sids := []*windows.SID{user}
	for _, t := range trusted {
		sid, err := windows.CreateWellKnownSid(t)
		if err != nil {
			return nil, fmt.Errorf("building a well-known SID: %w", err)
		}
		sids = append(sids, sid)
	}
	return sids, nil
}

func isOneOf(sid *windows.SID, set []*windows.SID) bool {
	for _, s := range set {
		if sid.Equals(s) {
			return true
		}
	}
	return false
}

// nameOf names sid as Windows shows it (BUILTIN\Users), or by its string
// form (S-1-5-32-545) if the name cannot be looked up.
func nameOf(sid *windows.SID) string {
	account, domain, _, err := sid.LookupAccount("")
	if err != nil || account == "" {
		return sid.String()
	}
	if domain == "" {
		return account
	}
	return domain + `\` + account
}

// fixFor is the icacls command that leaves the current user alone with
// path: /inheritance:r drops what the parent grants and /grant:r replaces
// the user's own entries; (OI)(CI) hands the grant on to a directory's
// files and subdirectories.
func fixFor(path string, dir bool) string {
	grant := "%USERNAME%:F"
	if dir {
		grant = "%USERNAME%:(OI)(CI)F"
	}
	return fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r %s`, path, grant)
}

func restrict(path string, dir bool) error {
	user, err := currentUser()
	if err != nil {
		return err
	}
	sd, err := restricted(user, dir)
	if err != nil {
		return err
	}
	acl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION)
	if control, _, err := sd.Control(); err != nil {
		return err
	} else if control&windows.SE_DACL_PROTECTED != 0 {
		// PROTECTED: the parent's entries are no longer inherited.
		info |= windows.PROTECTED_DACL_SECURITY_INFORMATION
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, nil, nil, acl, nil)
}

// restricted builds the security descriptor that restrict gives a file or
// directory: an access list, protected from the parent's, that grants
// full control to user, SYSTEM and the Administrators and, for a
// directory, is inherited by everything created in it. restrict applies
// its list and protection; the tests read them back.
func restricted(user *windows.SID, dir bool) (*windows.SECURITY_DESCRIPTOR, error) {
	inherit := uint32(windows.NO_INHERITANCE)
	if dir {
		inherit = windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT
	}
	grant := func(sid *windows.SID, kind windows.TRUSTEE_TYPE) windows.EXPLICIT_ACCESS {
		return windows.EXPLICIT_ACCESS{
			AccessPermissions: windows.GENERIC_ALL,
			AccessMode:        windows.GRANT_ACCESS,
			Inheritance:       inherit,
			Trustee: windows.TRUSTEE{
				TrusteeForm:  windows.TRUSTEE_IS_SID,
				TrusteeType:  kind,
				TrusteeValue: windows.TrusteeValueFromSID(sid),
			},
		}
	}
	entries := []windows.EXPLICIT_ACCESS{grant(user, windows.TRUSTEE_IS_USER)}
	for _, t := range []windows.WELL_KNOWN_SID_TYPE{windows.WinLocalSystemSid, windows.WinBuiltinAdministratorsSid} {
		sid, err := windows.CreateWellKnownSid(t)
		if err != nil {
			return nil, err
		}
		entries = append(entries, grant(sid, windows.TRUSTEE_IS_WELL_KNOWN_GROUP))
	}
	acl, err := windows.ACLFromEntries(entries, nil)
	if err != nil {
		return nil, err
	}
	sd, err := windows.NewSecurityDescriptor()
	if err != nil {
		return nil, err
	}
	if err := sd.SetDACL(acl, true, false); err != nil {
		return nil, err
	}
	if err := sd.SetControl(windows.SE_DACL_PROTECTED, windows.SE_DACL_PROTECTED); err != nil {
		return nil, err
	}
	return sd, nil
}
