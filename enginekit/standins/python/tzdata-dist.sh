#!/bin/sh
# Makes Debian's time zone data (the tzdata system package) visible to pip as
# the Python distribution "tzdata", which PyPI serves and packages such as
# kombu (Celery's messaging library) require, and which Debian does not
# package. The files are Debian's; only the name and the version are PyPI's:
# release 2026f is version 2026.6.
set -eu
release=$(dpkg-query -W -f='${Version}' tzdata | sed 's/-.*//')
year=${release%?}
letter=${release#"$year"}
number=$(($(printf '%d' "'$letter") - 96))
version=$year.$number
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$site/tzdata/zoneinfo" "$site/tzdata-$version.dist-info"
cp -a /usr/share/zoneinfo/. "$site/tzdata/zoneinfo/"
rm -rf "$site/tzdata/zoneinfo/posix" "$site/tzdata/zoneinfo/right"
printf 'IANA_VERSION = "%s"\n' "$release" >"$site/tzdata/__init__.py"
printf 'Metadata-Version: 2.1\nName: tzdata\nVersion: %s\nSummary: Debian tzdata %s, as the tzdata Python distribution\n' \
	"$version" "$release" >"$site/tzdata-$version.dist-info/METADATA"
echo debian >"$site/tzdata-$version.dist-info/INSTALLER"
: >"$site/tzdata-$version.dist-info/RECORD"
python3 -c 'import importlib.metadata as m, zoneinfo; print("tzdata", m.version("tzdata"), zoneinfo.ZoneInfo("Europe/Paris"))'
