# Compiler settings shared by the library, the apps and the tests.
include(CheckCCompilerFlag)

# -Wall -Wextra with gcc and clang; the tree builds without warnings.
function(gan_set_warnings target)
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wstrict-prototypes)
  endif()
endfunction()

# The SIMD GEMM micro-kernels: each file is compiled for its instruction set
# and called only after a run-time CPU check, so the library still runs on
# older x86-64 CPUs and builds everywhere else with the portable kernel.
function(gan_add_simd_kernels target)
  if(NOT GAN_SIMD OR NOT CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
    return()
  endif()
  if(NOT CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
    return()
  endif()
  check_c_compiler_flag("-mavx2 -mfma" GAN_CC_HAS_AVX2)
  check_c_compiler_flag("-mavx512f" GAN_CC_HAS_AVX512F)
  set(dir ${PROJECT_SOURCE_DIR}/backends/cpu)
  if(GAN_CC_HAS_AVX2)
    target_sources(${target} PRIVATE ${dir}/cpu_gemm_avx2.c)
    set_source_files_properties(${dir}/cpu_gemm_avx2.c PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
    target_compile_definitions(${target} PRIVATE GAN_HAVE_AVX2_KERNEL)
  endif()
  if(GAN_CC_HAS_AVX512F)
    target_sources(${target} PRIVATE ${dir}/cpu_gemm_avx512.c)
    set_source_files_properties(${dir}/cpu_gemm_avx512.c PROPERTIES COMPILE_OPTIONS "-mavx512f;-mfma")
    target_compile_definitions(${target} PRIVATE GAN_HAVE_AVX512_KERNEL)
  endif()
endfunction()
