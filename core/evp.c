/* OpenSSL ciphers fetched once. In OpenSSL 3 the EVP_aes_*() getters make every init look
 * the algorithm up again in the provider store (a lock and a search per call); an explicitly
 * fetched cipher skips that. Falls back to the getters if a fetch fails. */
#include "internal.h"

#include <openssl/evp.h>
#include <pthread.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const EVP_CIPHER *fetched[DC_EVP_N];

static void fetch_all(void)
{
	static const char *const names[DC_EVP_N] = { [DC_EVP_AES256_WRAP] = "AES-256-WRAP",
		                                      [DC_EVP_AES256_CBC] = "AES-256-CBC",
		                                      [DC_EVP_AES256_GCM] = "AES-256-GCM",
		                                      [DC_EVP_AES256_ECB] = "AES-256-ECB" };
	for (int i = 0; i < DC_EVP_N; i++)
		fetched[i] = EVP_CIPHER_fetch(NULL, names[i], NULL);
}

const EVP_CIPHER *dc__evp_cipher(enum dc_evp which)
{
	pthread_once(&once, fetch_all);
	if (fetched[which])
		return fetched[which];
	switch (which) {
	case DC_EVP_AES256_WRAP: return EVP_aes_256_wrap();
	case DC_EVP_AES256_CBC: return EVP_aes_256_cbc();
	case DC_EVP_AES256_ECB: return EVP_aes_256_ecb();
	default: return EVP_aes_256_gcm();
	}
}
