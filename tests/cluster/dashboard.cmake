# The live dashboard (server/dashboard.c, web/): its HTTP API and event streams through real
# nodes (test_dashboard.py), and the page in a headless Chromium clicking kill on the leader
# (test_dashboard_browser.py, skipped where Debian's chromium is not installed). Screenshots go
# to $RAFTKV_ARTIFACTS, else dashboard-artifacts/ in this build directory.
add_test(NAME cluster_dashboard
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider -rfEsxX
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_dashboard.py
                 ${CMAKE_CURRENT_SOURCE_DIR}/test_dashboard_browser.py
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(cluster_dashboard PROPERTIES
                     LABELS cluster TIMEOUT 300 RUN_SERIAL TRUE
                     ENVIRONMENT "RAFTKV_BINARY=$<TARGET_FILE:raftkv>;PYTHONDONTWRITEBYTECODE=1")
