# Compute backends and the multivariate model. The CUDA comparisons in these programs run where a
# GPU is usable and print a SKIP line otherwise; the CPU path is always tested.
vg_add_test(test_kernels SOURCES test_kernels.c LIBS vg_kernels)
vg_add_test(test_mv SOURCES test_mv.c LIBS vg_mv TIMEOUT 120)
# test_fleet also checks the mv host model's state blob (analyzer/vg_model_mv.c).
vg_add_test(test_fleet SOURCES test_fleet.c LIBS vg_models)
if(TARGET vigil-cuda)
    # Built before the tests so they find it (../kernels/libvigil-cuda.so) where a GPU is usable.
    add_dependencies(test_kernels vigil-cuda)
    add_dependencies(test_mv vigil-cuda)
endif()
