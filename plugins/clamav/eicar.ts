// The EICAR anti-virus test string: 68 harmless bytes that every scanner reports as a virus.
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
