# cmake -DINPUT=file -DOUTPUT=header -DNAME=symbol -P EmbedText.cmake
# Writes a C header defining `static const char NAME[]` with the file's text,
# so the library needs no file at run time.
file(STRINGS "${INPUT}" lines)
set(body "")
foreach(line IN LISTS lines)
  string(REPLACE "\\" "\\\\" line "${line}")
  string(REPLACE "\"" "\\\"" line "${line}")
  string(APPEND body "    \"${line}\\n\"\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "/* generated from ${INPUT} by cmake/EmbedText.cmake */\nstatic const char ${NAME}[] =\n${body};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
