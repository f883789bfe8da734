/* CRC32C (Castagnoli), the checksum of every record, header and hint file. */
#ifndef KVS_CRC32C_H
#define KVS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extend a CRC32C over more bytes. Start with crc = 0; the result of one call
 * is the crc argument of the next, so kvs__crc32c(kvs__crc32c(0, a), b) equals
 * the CRC of a followed by b. Standard CRC32C: "123456789" gives 0xE3069283.
 * Uses the SSE4.2 crc32 instruction when the CPU has it.
 */
uint32_t kvs__crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable table-driven version, exposed so tests can compare both paths. */
uint32_t kvs__crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 if kvs__crc32c uses hardware instructions on this CPU. */
int kvs__crc32c_hw_available(void);

#endif
