#!/usr/bin/env python3
"""plist-check: check a launchd job file against launchd.plist(5).

    tools/plist-check.py [--binary PATH] [--boot-dir DIR]... FILE.plist...

Fails (exit 1, one line per problem) when a key is not one launchd.plist(5)
documents, when a value has the wrong type or is not one of the documented
values, when a Unix socket's directory is not one that exists at boot
(launchd binds SockPathName as given and creates no directory; /var/run is
emptied at boot, so only it and the other boot-time directories qualify),
when ProgramArguments[0] / Program is not the installed binary
(--binary), or when the job would run as root: a LaunchDaemon without
UserName and GroupName runs as root, and launchd creates the job's sockets
itself, so the daemon needs no privilege (root, uid 0, wheel and gid 0 are
refused). Needs only Python 3's plistlib; runs anywhere.
"""
import argparse
import os
import plistlib
import sys

# Directories present on every boot of macOS before any job runs: the
# system's own, not created by an installer. /var, /tmp and /etc are links
# into /private.
BOOT_DIRS = {"/var/run", "/private/var/run", "/tmp", "/private/tmp",
             "/var/tmp", "/private/var/tmp"}

STR, INT, BOOL, DICT, ARR = "string", "integer", "boolean", "dictionary", "array"
PY = {STR: str, INT: int, BOOL: bool, DICT: dict, ARR: list}

# Names that are root's: a job under them keeps every privilege.
ROOT_USERS = {"root", "0"}
ROOT_GROUPS = {"wheel", "0"}

# Top-level keys of launchd.plist(5), each with the types it may take.
KEYS = {
    "Label": (STR,), "Disabled": (BOOL,), "UserName": (STR,),
    "GroupName": (STR,), "inetdCompatibility": (DICT,),
    "LimitLoadToHosts": (ARR,), "LimitLoadFromHosts": (ARR,),
    "LimitLoadToSessionType": (STR, ARR), "LimitLoadToHardware": (DICT,),
    "LimitLoadFromHardware": (DICT,), "Program": (STR,),
    "ProgramArguments": (ARR,), "EnableGlobbing": (BOOL,),
    "EnableTransactions": (BOOL,), "EnablePressuredExit": (BOOL,),
    "OnDemand": (BOOL,), "ServiceIPC": (BOOL,), "KeepAlive": (BOOL, DICT),
    "RunAtLoad": (BOOL,), "RootDirectory": (STR,),
    "WorkingDirectory": (STR,), "EnvironmentVariables": (DICT,),
    "Umask": (INT, STR), "TimeOut": (INT,), "ExitTimeOut": (INT,),
    "ThrottleInterval": (INT,), "InitGroups": (BOOL,), "WatchPaths": (ARR,),
    "QueueDirectories": (ARR,), "StartOnMount": (BOOL,),
    "StartInterval": (INT,), "StartCalendarInterval": (DICT, ARR),
    "StandardInPath": (STR,), "StandardOutPath": (STR,),
    "StandardErrorPath": (STR,), "Debug": (BOOL,),
    "WaitForDebugger": (BOOL,), "SoftResourceLimits": (DICT,),
    "HardResourceLimits": (DICT,), "Nice": (INT,), "ProcessType": (STR,),
    "AbandonProcessGroup": (BOOL,), "LowPriorityIO": (BOOL,),
    "LowPriorityBackgroundIO": (BOOL,), "MaterializeDatalessFiles": (BOOL,),
    "LaunchOnlyOnce": (BOOL,), "MachServices": (DICT,), "Sockets": (DICT,),
    "LaunchEvents": (DICT,), "SessionCreate": (BOOL,),
    "AssociatedBundleIdentifiers": (STR, ARR), "LegacyTimers": (BOOL,),
}
SOCKET_KEYS = {
    "SockType": (STR,), "SockPassive": (BOOL,), "SockNodeName": (STR,),
    "SockServiceName": (STR, INT), "SockFamily": (STR,),
    "SockProtocol": (STR,), "SockPathName": (STR,),
    "SecureSocketWithKey": (STR,), "SockPathOwner": (INT,),
    "SockPathGroup": (INT,), "SockPathMode": (INT,),
    "Bonjour": (BOOL, STR, ARR), "MulticastGroup": (STR,),
}
KEEPALIVE_KEYS = {
    "SuccessfulExit": (BOOL,), "NetworkState": (BOOL,), "PathState": (DICT,),
    "OtherJobEnabled": (DICT,), "Crashed": (BOOL,),
    "AfterInitialDemand": (BOOL, DICT),
}
LIMIT_KEYS = {k: (INT,) for k in (
    "Core", "CPU", "Data", "FileSize", "MemoryLock", "NumberOfFiles",
    "NumberOfProcesses", "ResidentSetSize", "Stack")}
CALENDAR_KEYS = {k: (INT,) for k in ("Minute", "Hour", "Day", "Weekday",
                                      "Month")}
ENUMS = {
    "ProcessType": {"Background", "Standard", "Adaptive", "Interactive"},
    "SockType": {"stream", "dgram", "seqpacket"},
    "SockFamily": {"IPv4", "IPv6", "IPv4v6", "Unix"},
    "SockProtocol": {"TCP", "UDP"},
}


def type_name(v):
    # bool is an int in Python: test it first, and never as an int.
    if isinstance(v, bool):
        return BOOL
    for name, t in PY.items():
        if isinstance(v, t):
            return name
    return type(v).__name__


class Check:
    def __init__(self, path):
        self.path = path
        self.errors = []

    def bad(self, where, msg):
        self.errors.append("%s: %s: %s" % (self.path, where, msg))

    def keys(self, where, d, schema):
        """Every key of d known to schema and of a documented type;
        returns the keys that passed."""
        good = []
        for k, v in d.items():
            if k not in schema:
                self.bad(where + k, "unknown key (not in launchd.plist(5))")
                continue
            if type_name(v) not in schema[k]:
                self.bad(where + k, "is %s, launchd.plist(5) wants %s"
                         % (type_name(v), " or ".join(schema[k])))
                continue
            if k in ENUMS and v not in ENUMS[k]:
                self.bad(where + k, "%r is not one of %s"
                         % (v, ", ".join(sorted(ENUMS[k]))))
                continue
            good.append(k)
        return good

    def strings(self, where, arr):
        for i, v in enumerate(arr):
            if not isinstance(v, str):
                self.bad("%s[%d]" % (where, i), "is %s, wants string"
                         % type_name(v))


def check_socket(c, where, s, boot_dirs):
    if not isinstance(s, dict):
        c.bad(where, "is %s, wants dictionary" % type_name(s))
        return
    good = c.keys(where + ".", s, SOCKET_KEYS)
    if "SockPathMode" in good and not 0 <= s["SockPathMode"] <= 0o777:
        c.bad(where + ".SockPathMode", "%d is not a mode (0..511; decimal "
              "in the plist)" % s["SockPathMode"])
    if "SockPathName" in good:
        path = s["SockPathName"]
        d = os.path.dirname(os.path.normpath(path))
        if not os.path.isabs(path):
            c.bad(where + ".SockPathName", "%r is not absolute" % path)
        elif d not in boot_dirs:
            c.bad(where + ".SockPathName",
                  "directory %s does not exist at boot (launchd creates no "
                  "directory; boot-time ones: %s)"
                  % (d, ", ".join(sorted(boot_dirs))))


def check(path, binary, boot_dirs):
    c = Check(path)
    try:
        with open(path, "rb") as f:
            pl = plistlib.load(f)
    except Exception as e:  # plistlib raises several kinds
        c.bad("file", "not a property list: %s" % e)
        return c.errors
    if not isinstance(pl, dict):
        c.bad("root", "is %s, wants dictionary" % type_name(pl))
        return c.errors
    good = c.keys("", pl, KEYS)
    if "Label" not in pl:
        c.bad("Label", "missing (required)")
    if "Program" not in pl and "ProgramArguments" not in pl:
        c.bad("ProgramArguments", "missing, and no Program either")
    if "ProgramArguments" in good:
        c.strings("ProgramArguments", pl["ProgramArguments"])
        if not pl["ProgramArguments"]:
            c.bad("ProgramArguments", "is empty")
    for k in ("LimitLoadToHosts", "LimitLoadFromHosts", "WatchPaths",
              "QueueDirectories"):
        if k in good:
            c.strings(k, pl[k])
    prog = pl.get("Program") if "Program" in good else None
    if prog is None and "ProgramArguments" in good and pl["ProgramArguments"]:
        prog = pl["ProgramArguments"][0]
    if binary and isinstance(prog, str) and prog != binary:
        c.bad("ProgramArguments[0]", "%r is not the installed binary %r"
              % (prog, binary))
    for key, root in (("UserName", ROOT_USERS), ("GroupName", ROOT_GROUPS)):
        if key not in pl:
            c.bad(key, "missing: the job would run as root for its whole "
                  "life; launchd creates the socket, so name an "
                  "unprivileged account")
        elif key in good and pl[key] in root:
            c.bad(key, "%r is root's: name an unprivileged account" % pl[key])
    if "KeepAlive" in good and isinstance(pl["KeepAlive"], dict):
        c.keys("KeepAlive.", pl["KeepAlive"], KEEPALIVE_KEYS)
    for k in ("SoftResourceLimits", "HardResourceLimits"):
        if k in good:
            c.keys(k + ".", pl[k], LIMIT_KEYS)
    if "StartCalendarInterval" in good:
        v = pl["StartCalendarInterval"]
        for i, d in enumerate(v if isinstance(v, list) else [v]):
            if isinstance(d, dict):
                c.keys("StartCalendarInterval[%d]." % i, d, CALENDAR_KEYS)
            else:
                c.bad("StartCalendarInterval[%d]" % i, "wants dictionary")
    if "EnvironmentVariables" in good:
        for k, v in pl["EnvironmentVariables"].items():
            if not isinstance(v, str):
                c.bad("EnvironmentVariables." + k, "is %s, wants string"
                      % type_name(v))
    if "Sockets" in good:
        for name, v in pl["Sockets"].items():
            # One socket is a dictionary; several under one name an array.
            for i, s in enumerate(v if isinstance(v, list) else [v]):
                where = "Sockets.%s%s" % (name, "[%d]" % i
                                          if isinstance(v, list) else "")
                check_socket(c, where, s, boot_dirs)
    return c.errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("plist", nargs="+")
    ap.add_argument("--binary", help="the installed program the job must run")
    ap.add_argument("--boot-dir", action="append", default=[],
                    help="another directory known to exist at boot")
    a = ap.parse_args()
    boot = BOOT_DIRS | {os.path.normpath(d) for d in a.boot_dir}
    errors = []
    for p in a.plist:
        errors += check(p, a.binary, boot)
    for e in errors:
        print(e)
    if not errors:
        print("plist-check: %s: ok" % ", ".join(a.plist))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
