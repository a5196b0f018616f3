#!/usr/bin/env bash
# Regenerates the rpm extractor's fixtures: the rpm databases under valid/,
# empty/ and invalid/, and rpm's own listing of each valid database under
# rpm-qa/ (the test compares the extractor with it). The packages are built
# from specs/ here; nothing is copied from elsewhere.
#
#   sqlite  written by rpm (Debian's rpm 4.18 writes sqlite rpmdbs), then
#           re-paged to 512-byte pages with VACUUM to keep it small.
#   ndb     written by rpm's ndb backend. Debian builds rpm without it, so
#           set RPM_NDB to an rpm built with --enable-ndb, or let this
#           script build one from Debian's rpm source package (needs
#           deb-src access through apt and a few -dev packages; minutes).
#   bdb     no rpm on Debian writes Berkeley DB any more (4.18 only reads
#           it, "bdb_ro"). The Packages file is written by Berkeley DB 5.3
#           itself (db5.3_load, the libdb RHEL 7 and 8 use) as a hash
#           database holding the header blobs rpm wrote to the sqlite
#           database, keyed the way rpm's bdb backend keys them: the header
#           number as a native-endian uint32, plus key 0 holding the last
#           header number; once with 4 KiB pages, once with 16 KiB. rpm's
#           bdb_ro backend then lists them (rpm-qa/).
#
# Needs: apt-get install rpm db5.3-util sqlite3 gnupg
# Then:  go test ./internal/extractor/rpm/ -update   (and read the diff)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export SOURCE_DATE_EPOCH=1700000000
# Debian's rpm warns that it should not install packages on Debian.
quiet() { "$@" 2> >(grep -v -e 'use Alien' -e 'what you are doing' >&2); }

# rpm_ndb prints the path of an rpm binary with the ndb backend, building
# one from Debian's source package when RPM_NDB is not set.
rpm_ndb() {
	if [[ -n ${RPM_NDB:-} ]]; then
		echo "$RPM_NDB"
		return
	fi
	local src=$work/rpmsrc
	mkdir -p "$src/lists/partial"
	cat >"$src/sources.list" <<-EOF
		deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
	EOF
	local apt=(-o Dir::Etc::SourceList="$src/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$src/lists")
	apt-get "${apt[@]}" -qq update >&2
	(cd "$src" && apt-get "${apt[@]}" -qq source --download-only rpm >&2 && tar xf rpm_*.orig.tar.xz)
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential pkg-config libpopt-dev \
		libmagic-dev zlib1g-dev liblua5.3-dev libgcrypt20-dev libsqlite3-dev libzstd-dev \
		liblzma-dev libbz2-dev libelf-dev libdw-dev >&2
	(cd "$src"/rpm-4.* &&
		LUA_CFLAGS="$(pkg-config --cflags lua5.3)" LUA_LIBS="$(pkg-config --libs lua5.3)" \
			./configure --prefix="$src/inst" --localstatedir="$src/inst/var" --enable-ndb \
			--without-archive --disable-plugins --without-selinux --without-cap --without-acl \
			--without-audit --disable-python --disable-openmp --with-crypto=libgcrypt >&2 &&
		make -j"$(nproc)" >&2 && make install >&2)
	echo "$src/inst/bin/rpm"
}

# compact_sqlite re-pages an sqlite rpmdb to 512-byte pages (rpm creates
# some fifty tables and indexes, one 4 KiB page each) and puts it back in
# WAL mode, as rpm leaves it.
compact_sqlite() {
	sqlite3 "$1" 'PRAGMA journal_mode=DELETE; PRAGMA page_size=512; VACUUM; PRAGMA journal_mode=WAL;' >/dev/null
	rm -f "$1"-wal "$1"-shm
}

# put FILE DEST copies FILE to DEST under testdata, creating directories.
put() {
	mkdir -p "$(dirname "$here/$2")"
	cp "$1" "$here/$2"
}

osrelease() {
	mkdir -p "$here/$1/etc"
	cat >"$here/$1/etc/os-release"
}

qa() {
	"$@" -qa --qf '%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH} %{SOURCERPM}\n' | sort
}

# Case directories only: the golden files stay, to be compared.
rm -rf "$here"/valid/*/ "$here"/invalid/*/ "$here"/empty/*/ "$here/rpm-qa"
mkdir -p "$here/rpm-qa"

# Packages.
for spec in "$here"/specs/*.spec; do
	rpmbuild --quiet --define "_topdir $work/top" --define "_buildhost fixtures.palisade.test" -bb "$spec"
done
rpms=("$work"/top/RPMS/*/*.rpm)

# A signing key, imported as rpm imports keys: a gpg-pubkey pseudo-package
# the extractor must skip.
export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch -q --passphrase '' --quick-gen-key 'Palisade Fixtures <fixtures@palisade.test>' rsa2048 sign never
gpg --batch -q --armor --export >"$work/key.asc"

install_all() { # rpm-command... (with --dbpath)
	quiet "$@" --initdb
	quiet "$@" -i --justdb --nodeps --noscripts --notriggers --ignorearch --ignoreos "${rpms[@]}"
	quiet "$@" --import "$work/key.asc"
}

# sqlite, as RHEL 9 and Fedora write it.
install_all rpm --define '_db_backend sqlite' --dbpath "$work/sqlite"
qa rpm --dbpath "$work/sqlite" >"$here/rpm-qa/rhel9.txt"
cp "$work/sqlite/rpmdb.sqlite" "$work/full.sqlite"
compact_sqlite "$work/full.sqlite"
put "$work/full.sqlite" valid/rhel9/var/lib/rpm/rpmdb.sqlite
osrelease valid/rhel9 <<-'EOF'
	NAME="Red Hat Enterprise Linux"
	VERSION="9.4 (Plow)"
	ID="rhel"
	ID_LIKE="fedora"
	VERSION_ID="9.4"
	PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
	CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
EOF

quiet rpm --define '_db_backend sqlite' --dbpath "$work/sqlite-empty" --initdb
compact_sqlite "$work/sqlite-empty/rpmdb.sqlite"
put "$work/sqlite-empty/rpmdb.sqlite" empty/sqlite-no-packages/usr/lib/sysimage/rpm/rpmdb.sqlite

# ndb, as SUSE writes it.
ndb=$(rpm_ndb)
install_all "$ndb" --define '_db_backend ndb' --dbpath "$work/ndb"
qa "$ndb" --define '_db_backend ndb' --dbpath "$work/ndb" >"$here/rpm-qa/opensuse-leap.txt"
put "$work/ndb/Packages.db" valid/opensuse-leap/usr/lib/sysimage/rpm/Packages.db
osrelease valid/opensuse-leap <<-'EOF'
	NAME="openSUSE Leap"
	VERSION="15.5"
	ID="opensuse-leap"
	ID_LIKE="suse opensuse"
	VERSION_ID="15.5"
	PRETTY_NAME="openSUSE Leap 15.5"
EOF

quiet "$ndb" --define '_db_backend ndb' --dbpath "$work/ndb-key" --initdb
quiet "$ndb" --define '_db_backend ndb' --dbpath "$work/ndb-key" --import "$work/key.asc"
put "$work/ndb-key/Packages.db" empty/ndb-only-gpg-pubkey/var/lib/rpm/Packages.db

# bdb, as RHEL 7 and 8 (and Rocky and Alma 8) write it: a Berkeley DB hash
# database. make_bdb PAGESIZE DIR writes DIR/Packages from db_dump's format
# (hex keys and values, one a line).
make_bdb() {
	{
		printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=%d\nHEADER=END\n' "$1"
		sqlite3 "$work/full.sqlite" "
			SELECT ' 00000000', ' ' || printf('%02x%02x%02x%02x', m & 255, (m >> 8) & 255, (m >> 16) & 255, (m >> 24) & 255)
				FROM (SELECT max(hnum) AS m FROM Packages);
			SELECT ' ' || printf('%02x%02x%02x%02x', hnum & 255, (hnum >> 8) & 255, (hnum >> 16) & 255, (hnum >> 24) & 255),
				' ' || lower(hex(blob)) FROM Packages ORDER BY hnum;" | tr '|' '\n'
		printf 'DATA=END\n'
	} >"$work/packages.dump"
	mkdir -p "$2"
	db5.3_load -f "$work/packages.dump" "$2/Packages"
}
# bdb_ro lists a Berkeley DB rpmdb (and warns about the index files that are
# not there).
qa_bdb() {
	qa rpm --define '_db_backend bdb_ro' --dbpath "$1" 2> >(grep -v 'could not open' >&2)
}

# 4 KiB pages: every header is on a chain of overflow pages.
make_bdb 4096 "$work/bdb"
qa_bdb "$work/bdb" >"$here/rpm-qa/rocky8.txt"
cmp "$here/rpm-qa/rocky8.txt" "$here/rpm-qa/rhel9.txt"
put "$work/bdb/Packages" valid/rocky8/var/lib/rpm/Packages
osrelease valid/rocky8 <<-'EOF'
	NAME="Rocky Linux"
	VERSION="8.9 (Green Obsidian)"
	ID="rocky"
	ID_LIKE="rhel centos fedora"
	VERSION_ID="8.9"
	PRETTY_NAME="Rocky Linux 8.9 (Green Obsidian)"
EOF

# 16 KiB pages: the small headers sit in the hash pages themselves. Without
# os-release: no release in the ecosystem, no purl namespace.
make_bdb 16384 "$work/bdb16"
qa_bdb "$work/bdb16" >"$here/rpm-qa/no-os-release.txt"
cmp "$here/rpm-qa/no-os-release.txt" "$here/rpm-qa/rhel9.txt"
put "$work/bdb16/Packages" valid/no-os-release/usr/share/rpm/Packages

# Broken databases of each format: each must give an error, not a panic.
garbage() { head -c "$1" < <(yes palisade-garbage); }
sq=$work/full.sqlite
head -c 8192 "$sq" >"$work/x" && put "$work/x" invalid/sqlite-truncated/var/lib/rpm/rpmdb.sqlite
{ head -c 100 "$sq"; garbage $(($(stat -c %s "$sq") - 100)); } >"$work/x" && put "$work/x" invalid/sqlite-garbage/var/lib/rpm/rpmdb.sqlite
nd=$work/ndb/Packages.db
head -c $(($(stat -c %s "$nd") - 512)) "$nd" >"$work/x" && put "$work/x" invalid/ndb-truncated/usr/lib/sysimage/rpm/Packages.db
{ head -c 32 "$nd"; garbage 8160; } >"$work/x" && put "$work/x" invalid/ndb-garbage/usr/lib/sysimage/rpm/Packages.db
# One byte of a header blob changed: the blob's Adler-32 no longer matches.
cp "$nd" "$work/x" && printf 'X' | dd of="$work/x" bs=1 seek=4200 conv=notrunc status=none
put "$work/x" invalid/ndb-checksum/usr/lib/sysimage/rpm/Packages.db
bd=$work/bdb/Packages
head -c 8192 "$bd" >"$work/x" && put "$work/x" invalid/bdb-truncated/var/lib/rpm/Packages
{ head -c 4096 "$bd"; garbage $(($(stat -c %s "$bd") - 4096)); } >"$work/x" && put "$work/x" invalid/bdb-garbage/var/lib/rpm/Packages
garbage 4096 >"$work/x" && put "$work/x" invalid/not-an-rpmdb/var/lib/rpm/Packages

# A file of zero bytes holds no packages.
mkdir -p "$here/empty/zero-bytes/var/lib/rpm" && : >"$here/empty/zero-bytes/var/lib/rpm/Packages"

du -sh "$here"
