# Wire format v1 codec (common/vg_wire.c).
vg_add_test(test_wire SOURCES test_wire.c LIBS vg_common)
# Exactly-rounded number parser of the wire decoder (common/vg_numparse.c) against strtod.
vg_add_test(test_numparse SOURCES test_numparse.c LIBS vg_common)
