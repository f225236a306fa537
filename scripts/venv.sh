# shellcheck shell=sh
# Sourced by scripts/dnsmon and scripts/test, never run: the checkout's own virtual
# environment, made with the distribution's python3 and nothing else from the system.
# POSIX sh, so that both a sh and a bash script can source it.
#
#   dnsmon_venv DIR [EXTRA]
#
# Run from the checkout's top folder. Makes DIR a virtual environment with this checkout
# installed in it, editable (so changes to monitor/ take effect at once) and with the
# optional dependencies [EXTRA] when asked. pip runs only when DIR is new, pyproject.toml
# changed since the last install, or EXTRA was not installed yet. On failure it exits 3,
# the exit code for "unknown" that every dnsmon verb uses.

dnsmon_venv_fail() {
    echo "$0: $*" >&2
    exit 3
}

# Debian and Ubuntu ship venv's pip (the ensurepip module) in python3-venv, apart from
# python3. Installs the two with apt-get when they are missing and this is root.
dnsmon_venv_python() {
    if command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip, venv' 2>/dev/null; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        dnsmon_venv_fail "python3 with its venv module is needed;" \
            "on Debian or Ubuntu: sudo apt-get install python3 python3-venv"
    fi
    echo "$0: installing python3-venv with apt-get" >&2
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3 python3-venv </dev/null >&2; }; then
        dnsmon_venv_fail "apt-get could not install python3-venv"
    fi
}

dnsmon_venv() {
    dnsmon_venv_dir=$1
    dnsmon_venv_extra=${2:-}
    # A venv is usable when its python runs and has pip: one made halfway, or whose
    # python3 has gone (a distribution upgrade), is made again in the same place.
    if ! "$dnsmon_venv_dir/bin/python3" -c 'import pip' 2>/dev/null; then
        if [ -e "$dnsmon_venv_dir" ] && [ ! -f "$dnsmon_venv_dir/pyvenv.cfg" ]; then
            dnsmon_venv_fail "$dnsmon_venv_dir exists and is not a virtual environment"
        fi
        dnsmon_venv_python
        # Isolated from the system's site-packages: the same packages on every machine.
        python3 -m venv --clear "$dnsmon_venv_dir" ||
            dnsmon_venv_fail "python3 -m venv $dnsmon_venv_dir failed"
        echo '*' >"$dnsmon_venv_dir/.gitignore"
    fi
    # The stamp: pyproject.toml's checksum and the extra installed with it.
    dnsmon_venv_sum=$(cksum <pyproject.toml | tr ' ' -)
    dnsmon_venv_stamp="$dnsmon_venv_dir/.dnsmon-installed"
    dnsmon_venv_have=$(cat "$dnsmon_venv_stamp" 2>/dev/null || true)
    if [ "$dnsmon_venv_have" = "$dnsmon_venv_sum $dnsmon_venv_extra" ]; then
        return 0
    fi
    if [ -z "$dnsmon_venv_extra" ] && [ "${dnsmon_venv_have%% *}" = "$dnsmon_venv_sum" ]; then
        return 0  # installed with an extra, which includes the plain install
    fi
    echo "$0: installing dnsmon${dnsmon_venv_extra:+[$dnsmon_venv_extra]} and its" \
        "dependencies into $dnsmon_venv_dir" >&2
    "$dnsmon_venv_dir/bin/python3" -m pip install --quiet --disable-pip-version-check \
        --editable ".${dnsmon_venv_extra:+[$dnsmon_venv_extra]}" ||
        dnsmon_venv_fail "pip could not install dnsmon into $dnsmon_venv_dir"
    echo "$dnsmon_venv_sum $dnsmon_venv_extra" >"$dnsmon_venv_stamp"
}
