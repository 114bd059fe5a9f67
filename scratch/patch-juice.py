# EXPERIMENT ONLY: binary-patch the prebuilt node-datachannel 0.33.4 (linux-x64-gnu) so that
# libjuice's agent_process_stun_binding no longer rejects requests whose ICE-CONTROLLING /
# ICE-CONTROLLED tiebreaker is 0 (libjuice 1.7.2 agent.c:1440 and :1488 test the *values*).
# NOPs: 0x48bf28 `je mismatch` and 0x48bf53 `je use_candidate-missing-ice_controlling`.
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
for addr, old in ((0x48bf28, '0f8471060000'), (0x48bf53, '0f8492010000')):
    assert b[addr:addr + 6].hex() == old, (hex(addr), b[addr:addr + 6].hex())
    b[addr:addr + 6] = bytes.fromhex('660f1f440000')  # 6-byte NOP
open(p, 'wb').write(b)
print('patched', p)
