# Writes raftkv.conf, raftkv.1 and raftkv-backup.1 into OUTPUT_DIR (docs/man/CMakeLists.txt):
# the config and the man page's OPTIONS list are printed by the server itself from its table
# of settings; the man pages' other text is SOURCE_DIR/*.1.in with @VARIABLES@ filled in.
#
#   -DRAFTKV=<binary> -DSOURCE_DIR=docs/man -DOUTPUT_DIR -DVERSION -DSYSCONFDIR -DDATADIR -DDOCDIR
file(MAKE_DIRECTORY "${OUTPUT_DIR}")
execute_process(COMMAND "${RAFTKV}" --print-config-template "${DATADIR}"
                OUTPUT_FILE "${OUTPUT_DIR}/raftkv.conf" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "raftkv --print-config-template failed: ${rc}")
endif()
execute_process(COMMAND "${RAFTKV}" --print-man-settings OUTPUT_VARIABLE SETTINGS
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR SETTINGS STREQUAL "")
  message(FATAL_ERROR "raftkv --print-man-settings failed: ${rc}")
endif()
string(REGEX REPLACE "\n$" "" SETTINGS "${SETTINGS}")
# SOURCE_DATE_EPOCH (set by dpkg-buildpackage from debian/changelog) makes the date reproducible.
string(TIMESTAMP MAN_DATE "%Y-%m-%d" UTC)
set(PROJECT_VERSION "${VERSION}")
configure_file("${SOURCE_DIR}/raftkv.1.in" "${OUTPUT_DIR}/raftkv.1" @ONLY)
configure_file("${SOURCE_DIR}/raftkv-backup.1.in" "${OUTPUT_DIR}/raftkv-backup.1" @ONLY)
