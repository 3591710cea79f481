/*
 * interposers.h - the one list of the functions libcltshim.so exports:
 * libc's (the waiting calls among them, idle.c), and the plaintext calls of OpenSSL and GnuTLS (tls.c). Everything that must name them all is derived from it: the
 * linker's version script (preload/libcltshim.map.in), the check that the
 * library exports exactly these (preload/preload.mk), and the relocations
 * rewritten in libraries loaded with RTLD_DEEPBIND (deepbind.c). Adding an
 * interposer = one line here plus its definition in interpose.c.
 *
 * Macros only: the version script is this file run through the C
 * preprocessor.
 */
#ifndef CLT_SHIM_INTERPOSERS_H
#define CLT_SHIM_INTERPOSERS_H

/*
 * dlopen (deepbind.c) is interposed only where interpose.c has its entry
 * stub, which keeps the caller's return address (glibc resolves a bare
 * name along the caller's RUNPATH) and where the relocations are
 * understood: x86-64.
 */
#if defined(__x86_64__)
#define CLT_INTERPOSERS_DLOPEN(X) X(dlopen)
#else
#define CLT_INTERPOSERS_DLOPEN(X)
#endif

/*
 * TLS libraries' plaintext sends and reads, and the end of a session (tls.c): the shim links neither library;
 * the real function is looked up at its first call, which only a program
 * that has the library can make.
 */
#define CLT_INTERPOSERS_TLS(X)                                                                     \
	X(SSL_write)                                                                               \
	X(SSL_write_ex)                                                                            \
	X(SSL_write_ex2)                                                                           \
	X(gnutls_record_send)                                                                      \
	X(gnutls_record_send2)                                                                     \
	X(SSL_read)                                                                                \
	X(SSL_read_ex)                                                                             \
	X(SSL_free)                                                                                \
	X(gnutls_record_recv)                                                                      \
	X(gnutls_record_recv_seq)                                                                  \
	X(gnutls_deinit)

#define CLT_INTERPOSERS(X)                                                                         \
	X(connect)                                                                                 \
	X(listen)                                                                                  \
	X(send)                                                                                    \
	X(sendto)                                                                                  \
	X(sendmsg)                                                                                 \
	X(sendmmsg)                                                                                \
	X(write)                                                                                   \
	X(writev)                                                                                  \
	X(sendfile)                                                                                \
	X(sendfile64)                                                                              \
	X(close)                                                                                   \
	X(dup)                                                                                     \
	X(dup2)                                                                                    \
	X(dup3)                                                                                    \
	X(fcntl)                                                                                   \
	X(fcntl64)                                                                                 \
	X(fork)                                                                                    \
	X(socket)                                                                                  \
	X(socketpair)                                                                              \
	X(accept)                                                                                  \
	X(accept4)                                                                                 \
	X(close_range)                                                                             \
	X(closefrom)                                                                               \
	X(fclose)                                                                                  \
	CLT_INTERPOSERS_TLS(X)                                                                     \
	X(read)                                                                                    \
	X(recv)                                                                                    \
	X(recvfrom)                                                                                \
	X(recvmsg)                                                                                 \
	X(readv)                                                                                   \
	X(__read_chk)                                                                              \
	X(__recv_chk)                                                                              \
	X(__recvfrom_chk)                                                                          \
	X(poll)                                                                                    \
	X(ppoll)                                                                                   \
	X(__poll_chk)                                                                              \
	X(__ppoll_chk)                                                                             \
	X(select)                                                                                  \
	X(pselect)                                                                                 \
	X(epoll_wait)                                                                              \
	X(epoll_pwait)                                                                             \
	X(epoll_pwait2)                                                                            \
	CLT_INTERPOSERS_DLOPEN(X)

#endif /* CLT_SHIM_INTERPOSERS_H */
