# The Debian package (test_package.py): built from a copy of this tree with dpkg-buildpackage
# (scripts/build-package.sh), unpacked with dpkg -x into a throw-away root, checked with
# lintian and systemd-analyze, and its binary started against its own config on loopback.
# About two minutes on 2 cores, most of it the build, which uses every core: RUN_SERIAL.
# `make package-test` runs the same file alone.
add_test(NAME package
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_package.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(package PROPERTIES LABELS cluster TIMEOUT 900 RUN_SERIAL TRUE
                     ENVIRONMENT "RAFTKV_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
