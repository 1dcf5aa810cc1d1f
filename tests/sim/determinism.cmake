# Runs one simulator seed twice with the full trace and fails unless both traces are
# byte-identical. Invoked by CTest as: cmake -DSIM=<sim> -DSEED=<n> -DOUT=<dir> -P this file.
file(MAKE_DIRECTORY ${OUT})
foreach(run first second)
  execute_process(COMMAND ${SIM} --seed ${SEED} -v OUTPUT_FILE ${OUT}/${run}.trace
                  RESULT_VARIABLE rc_${run})
endforeach()
if(NOT rc_first STREQUAL rc_second)
  message(FATAL_ERROR "exit codes differ: ${rc_first} vs ${rc_second}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}/first.trace
                        ${OUT}/second.trace RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "seed ${SEED} produced different traces: diff ${OUT}/first.trace "
                      "${OUT}/second.trace")
endif()
file(SIZE ${OUT}/first.trace bytes)
if(bytes LESS 1000)
  message(FATAL_ERROR "trace of seed ${SEED} is suspiciously short (${bytes} bytes)")
endif()
message(STATUS "seed ${SEED}: identical traces (${bytes} bytes)")
