/**
 * The main migration channel (the "QEVM" stream, `migration/savevm.c` and `migration/ram.c`):
 * constants and encoders for the records a `-M none` guest's stream is made of.
 *
 * @module
 */

/** `QEMU_VM_FILE_MAGIC`: "QEVM", first four bytes of the main channel. */
export const QEMU_VM_FILE_MAGIC = 0x5145564d;
/** `QEMU_VM_FILE_VERSION`. */
export const QEMU_VM_FILE_VERSION = 3;
/** `QEMU_VM_FILE_VERSION_COMPAT`: the obsolete v2 format QEMU refuses. */
export const QEMU_VM_FILE_VERSION_COMPAT = 2;

/** `QEMU_VM_EOF`: end of the device sections. */
export const QEMU_VM_EOF = 0x00;
/** `QEMU_VM_SECTION_START`: first part of an iterative section (RAM). */
export const QEMU_VM_SECTION_START = 0x01;
/** `QEMU_VM_SECTION_PART`: a middle part of an iterative section. */
export const QEMU_VM_SECTION_PART = 0x02;
/** `QEMU_VM_SECTION_END`: the last part of an iterative section. */
export const QEMU_VM_SECTION_END = 0x03;
/** `QEMU_VM_SECTION_FULL`: a whole device section (vmstate), not self-delimiting. */
export const QEMU_VM_SECTION_FULL = 0x04;
/** `QEMU_VM_SUBSECTION`: a vmstate subsection inside a device section. */
export const QEMU_VM_SUBSECTION = 0x05;
/** `QEMU_VM_VMDESCRIPTION`: the JSON trailer after EOF. */
export const QEMU_VM_VMDESCRIPTION = 0x06;
/** `QEMU_VM_CONFIGURATION`: the configuration section after the header. */
export const QEMU_VM_CONFIGURATION = 0x07;
/** `QEMU_VM_COMMAND`: a command record (`MIG_CMD_*`). */
export const QEMU_VM_COMMAND = 0x08;
/** `QEMU_VM_SECTION_FOOTER`: closes a section, followed by its be32 section id. */
export const QEMU_VM_SECTION_FOOTER = 0x7e;

/** `MIG_CMD_SWITCHOVER_START` (QEMU 10.0+, 4e55cb3cde). */
export const MIG_CMD_SWITCHOVER_START = 11;

/** `RAM_SAVE_FLAG_ZERO`: a page filled with one byte (always 0 from QEMU). */
export const RAM_SAVE_FLAG_ZERO = 0x02;
/** `RAM_SAVE_FLAG_MEM_SIZE`: the block list at the start of the RAM section. */
export const RAM_SAVE_FLAG_MEM_SIZE = 0x04;
/** `RAM_SAVE_FLAG_PAGE`: a raw page follows. */
export const RAM_SAVE_FLAG_PAGE = 0x08;
/** `RAM_SAVE_FLAG_EOS`: end of this RAM section part. */
export const RAM_SAVE_FLAG_EOS = 0x10;
/** `RAM_SAVE_FLAG_CONTINUE`: same block as the previous page, no idstr follows. */
export const RAM_SAVE_FLAG_CONTINUE = 0x20;
/** `RAM_SAVE_FLAG_XBZRLE`: an XBZRLE-encoded page. */
export const RAM_SAVE_FLAG_XBZRLE = 0x40;
/** `RAM_SAVE_FLAG_COMPRESS_PAGE`: a zlib-compressed page (removed in 9.1). */
export const RAM_SAVE_FLAG_COMPRESS_PAGE = 0x100;
/** `RAM_SAVE_FLAG_MULTIFD_FLUSH`: sync the multifd channels (QEMU 8.1+, 294e5a4034). */
export const RAM_SAVE_FLAG_MULTIFD_FLUSH = 0x200;
/** The flag bits of a RAM record's be64 (below the page-aligned address). */
export const RAM_SAVE_FLAG_MASK = 0xfff;
