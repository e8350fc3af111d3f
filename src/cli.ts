console.log('mfp-sim placeholder');
