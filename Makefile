# Packages (see packaging/ and the README's "Packages" section).
.PHONY: deb deb13 rpm lint-packages test-packages
deb:
	packaging/build.sh deb
deb13:
	TARGET=debian13 packaging/build.sh deb
rpm:
	packaging/build.sh rpm
lint-packages:
	packaging/build.sh lint
test-packages:
	packaging/test-deb.sh
