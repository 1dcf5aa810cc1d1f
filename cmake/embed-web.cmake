# Turns the dashboard's files (web/*.html, *.js, *.css) into one C source, web_assets.c, that
# the server links: a node serves its page from memory, with no install path and nothing
# fetched at build time. Run by src/server/CMakeLists.txt as
#   cmake -DWEB_DIR=<web/> -DOUTPUT=<web_assets.c> -P embed-web.cmake
# Each file becomes a byte array and a row of web_assets[] (name, data, bytes); server.h
# declares the table.
file(GLOB files RELATIVE ${WEB_DIR} ${WEB_DIR}/*.html ${WEB_DIR}/*.js ${WEB_DIR}/*.css)
list(SORT files)
set(text "/* Generated from web/ by cmake/embed-web.cmake; do not edit. */\n")
string(APPEND text "#include \"server/server.h\"\n\n")
set(rows "")
set(number 0)
foreach(name ${files})
  file(READ ${WEB_DIR}/${name} hex HEX)
  string(LENGTH "${hex}" digits)
  math(EXPR bytes "${digits} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," array "${hex}")
  # Lines of 32 bytes keep the generated file readable by a compiler's error messages.
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){32})" "\\1\n    " array "${array}")
  string(APPEND text "static const uint8_t asset_${number}[] = {\n    ${array}0x00};\n\n")
  string(APPEND rows "    {\"${name}\", asset_${number}, ${bytes}},\n")
  math(EXPR number "${number} + 1")
endforeach()
string(APPEND text "const struct web_asset web_assets[] = {\n${rows}    {0, 0, 0},\n};\n")
string(APPEND text "const size_t web_asset_count = ${number};\n")
# Written aside and renamed over: two targets of a parallel build may run this at once.
string(RANDOM LENGTH 12 suffix)
file(WRITE ${OUTPUT}.${suffix} "${text}")
file(RENAME ${OUTPUT}.${suffix} ${OUTPUT})
