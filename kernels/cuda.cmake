# libvigil-cuda.so: the CUDA backend (cuBLAS + own kernels), loaded at run time by vg_k_open().
# sm_90 code plus compute_90 PTX, so newer GPUs JIT it. The project's C warning and sanitizer
# flags are not nvcc's: the target gets its own (host code: -Wall -Wextra -Werror).
if(NOT CMAKE_CUDA_COMPILER)
    set(CMAKE_CUDA_COMPILER ${VIGIL_NVCC})
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

add_library(vigil-cuda SHARED vg_k_cuda.cu)
set_target_properties(vigil-cuda PROPERTIES
    CUDA_ARCHITECTURES 90
    CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    POSITION_INDEPENDENT_CODE ON
    COMPILE_OPTIONS ""
    LINK_OPTIONS "")
# The build tree's copy finds cuBLAS through its build RPATH (the toolkit that built it); the
# installed one has no RUNPATH: a path of the build host means nothing on the host that installs
# the package, which finds libcublas.so.N through the dynamic linker's path (ld.so.conf.d, as
# NVIDIA's CUDA packages set up; docs/install.md, "GPU").
# What the analyzer package suggests for it (packaging/CMakeLists.txt): NVIDIA's cuBLAS package of
# the toolkit version that built it (its soname), and the driver's libcuda.so.1.
set_property(GLOBAL PROPERTY VIGIL_CUDA_SUGGESTS
    "libcublas-${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}, cuda-drivers | libcuda1")
target_include_directories(vigil-cuda PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_options(vigil-cuda PRIVATE
    --fmad=false -Werror=all-warnings
    -Xcompiler=-Wall,-Wextra,-Wshadow,-Werror,-Wno-unused-parameter)
# cudart linked statically; cuBLAS from the CUDA installation of the host that runs it. Where it
# is missing, dlopen() fails and the analyzer says so and runs on the CPU.
target_link_libraries(vigil-cuda PRIVATE CUDA::cublas CUDA::cudart_static)
install(TARGETS vigil-cuda LIBRARY DESTINATION lib/vigil COMPONENT analyzer)
