"""国密 (the national commercial cryptography algorithms, 商用密码): SM2 signatures with SM3, SM3 and
SM3-HMAC, SM4-GCM — beside the international algorithms, which stay the default where nothing asks
for 国密."""
