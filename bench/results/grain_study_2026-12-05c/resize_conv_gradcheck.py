# finite-difference check of the hacked layer in float64
import os; os.environ["RESIZE"]="1"
import sys; sys.path.insert(0,".")
import numpy as np
from vaegan import nn
from vaegan.backend import backend_named
K=backend_named("numpy")
L=nn.ConvTranspose2d(K,3,2,5,2,2,1,dtype="float64")
rng=np.random.default_rng(0)
L.w.data[...]=rng.standard_normal(L.w.shape); L.b.data[...]=rng.standard_normal(2)
x=rng.standard_normal((2,3,4,5)); y,_=L.forward(x); print(y.shape)
dy=rng.standard_normal(y.shape)
dx=L.backward(dy,x); g=L.w.grad.copy()
e=1e-6; num=np.zeros_like(g)
for i in np.ndindex(g.shape):
    L.w.data[i]+=e; yp=(L.forward(x)[0]*dy).sum(); L.w.data[i]-=2*e; ym=(L.forward(x)[0]*dy).sum(); L.w.data[i]+=e
    num[i]=(yp-ym)/(2*e)
print(np.abs(num-g).max())
# constant input -> constant output away from borders?
xc=np.ones((1,3,6,6)); L.b.data[...]=0; yc=L.forward(xc)[0][0,0,3:9,3:9]; print(yc.std())
